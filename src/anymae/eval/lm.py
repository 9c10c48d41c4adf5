"""What a decoder-only LM (MEAP / NTP, PAPERS.md row 38) is measured by here: perplexity of held-out text and
key-information retrieval — a fact placed inside a long context of real text, asked for at its end.

Key-information retrieval (our construction, after MEAP's needle-in-a-haystack evaluations): the context is
held-out pydocs text cut to fill the model's length; at a seeded depth it holds the sentence
"the secret key is KEY ." (KEY a whole-word, single-token vocabulary entry drawn per trial, never one that
occurs in that context); the text ends with "the secret key is" and the model must put KEY first. Reported:
accuracy (KEY is the top next token), mean reciprocal rank of KEY over the vocabulary and its mean
log-probability, over `trials` seeded trials, the same for every model."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

NEEDLE = "the secret key is {key} ."
QUESTION = "the secret key is"


@dataclass
class LMResult:
    name: str
    perplexity: float
    key_accuracy: float
    key_mrr: float
    key_logprob: float


@torch.no_grad()
def perplexity(model, ids: torch.Tensor, batch_size: int = 64) -> float:
    """ids [M,L] (clean, padded) -> exp(mean negative log-likelihood of every real next token)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(ids), batch_size):
        nll, real = model.token_nll(ids[start:start + batch_size])
        total += float(nll[real].sum())
        count += int(real.sum())
    return math.exp(total / max(count, 1))


def key_candidates(tok, limit: int = 500) -> list[int]:
    """Whole-word alphabetic vocabulary entries of 4+ letters (no '##' pieces, no specials), sorted by id."""
    vocab = tok.get_vocab()
    words = sorted((i, t) for t, i in vocab.items() if t.isalpha() and t.isascii() and len(t) >= 4)
    return [i for i, _ in words[:limit]]


def key_retrieval_trials(tok, texts: list[str], max_len: int, trials: int = 200, seed: int = 0,
                         depths=(0.1, 0.5, 0.9)) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """-> (ids [T,max_len] `[CLS] context-with-needle question`, no [SEP], no pads; keys [T]; depth of each).
    The context of trial t is held-out text taken in a seeded order until the row is full."""
    from ..data.text import special_ids
    ids_of = special_ids(tok)
    rng = np.random.default_rng(seed)
    encoded = [e.ids for e in tok.encode_batch(list(texts), add_special_tokens=False)]
    candidates = key_candidates(tok)
    question = tok.encode(QUESTION, add_special_tokens=False).ids
    rows, keys, where = [], [], []
    for t in range(trials):
        key = int(rng.choice(candidates))
        needle = tok.encode(NEEDLE.format(key=tok.id_to_token(key)), add_special_tokens=False).ids
        room = max_len - 1 - len(needle) - len(question)
        if room < 8:
            raise ValueError(f"max_len {max_len} leaves no room for a context around the key sentence")
        context: list[int] = []
        for i in rng.permutation(len(encoded)):
            context += [x for x in encoded[i] if x != key]
            if len(context) >= room:
                break
        context = context[:room]
        depth = float(depths[t % len(depths)])
        at = int(round(depth * room))
        rows.append([ids_of["cls_id"], *context[:at], *needle, *context[at:], *question])
        keys.append(key)
        where.append(depth)
    return torch.tensor(rows), torch.tensor(keys), where


@torch.no_grad()
def key_retrieval(model, ids: torch.Tensor, keys: torch.Tensor, batch_size: int = 32) -> tuple[float, float, float]:
    """-> (accuracy, mean reciprocal rank, mean log-probability) of each row's key as the next token."""
    model.eval()
    hits, rr, logp = [], [], []
    for start in range(0, len(ids), batch_size):
        logits = model.next_token_logits(ids[start:start + batch_size])[:, -1].float()     # [b,V]
        key = keys[start:start + batch_size]
        score = logits.gather(1, key[:, None])
        rank = (logits > score).sum(1) + 1
        hits.append(rank == 1)
        rr.append(1.0 / rank.float())
        logp.append(logits.log_softmax(1).gather(1, key[:, None])[:, 0])
    return float(torch.cat(hits).float().mean()), float(torch.cat(rr).mean()), float(torch.cat(logp).mean())


def lm_table(rows: list[LMResult], title: str) -> str:
    width = max(len(r.name) for r in rows)
    lines = [title, f"{'model':<{width}}  {'perplexity':>10}  {'key acc':>8}  {'key MRR':>8}  {'key logp':>9}"]
    lines += [f"{r.name:<{width}}  {r.perplexity:>10.2f}  {r.key_accuracy:>8.3f}  {r.key_mrr:>8.4f}  "
              f"{r.key_logprob:>9.3f}" for r in rows]
    return "\n".join(lines)
