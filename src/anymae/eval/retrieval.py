"""Retrieval evaluation as BEIR does it: nDCG@10, MRR@10 and Recall@100 of a text encoder's dense
representation, beside the same architecture at random init and BM25 (`bm25s`), on `pydocs-retrieval` or
a BEIR folder."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..io.files import write_text


@dataclass
class RetrievalResult:
    name: str
    ndcg10: float
    mrr10: float
    recall100: float


def score_rankings(ranked: list[list[str]], query_ids: list[str], qrels: dict[str, dict[str, int]]) -> tuple:
    """ranked[i]: doc ids for query i, best first -> (nDCG@10, MRR@10, Recall@100), means over queries.

    nDCG with graded gains rel (BEIR / pytrec_eval's linear gain), ideal from the query's judged documents."""
    ndcg, mrr, recall = [], [], []
    for qid, docs in zip(query_ids, ranked):
        rel = qrels[qid]
        gains = [rel.get(d, 0) for d in docs[:10]]
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
        ideal = sorted(rel.values(), reverse=True)[:10]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        ndcg.append(dcg / idcg if idcg > 0 else 0.0)
        first = next((i for i, d in enumerate(docs[:10]) if rel.get(d, 0) > 0), None)
        mrr.append(0.0 if first is None else 1.0 / (first + 1))
        relevant = {d for d, g in rel.items() if g > 0}
        recall.append(len(relevant & set(docs[:100])) / max(1, len(relevant)))
    return float(np.mean(ndcg)), float(np.mean(mrr)), float(np.mean(recall))


@torch.no_grad()
def embed_texts(model, texts: list[str], transform, batch_size: int = 128, desc: str = "", progress: bool = False,
                features=None):
    """texts -> [M,F] float32: the model's retrieval representation (`text_features(ids, 'retrieval')`), or
    `features(ids)` when given (a Starbucks sub-model's [CLS])."""
    model.eval()
    features = features or (lambda ids: model.text_features(ids, "retrieval"))
    out = []
    for start in tqdm(range(0, len(texts), batch_size), desc=desc, disable=not progress, leave=False):
        ids = torch.stack([transform(t) for t in texts[start:start + batch_size]])
        out.append(features(ids).float())
    return torch.cat(out)


def dense_rankings(model, corpus: dict, queries: dict, transform, k: int = 100, progress: bool = False,
                   name: str = "", features=None) -> list[list[str]]:
    """Top-k documents of every query by dot product of the representations."""
    doc_ids = list(corpus)
    docs = embed_texts(model, [corpus[d] for d in doc_ids], transform, desc=f"{name} corpus", progress=progress,
                       features=features)
    qs = embed_texts(model, list(queries.values()), transform, desc=f"{name} queries", progress=progress,
                     features=features)
    top = (qs @ docs.T).topk(min(k, len(doc_ids)), dim=1).indices.tolist()
    return [[doc_ids[i] for i in row] for row in top]


def bm25_rankings(corpus: dict, queries: dict, k: int = 100) -> list[list[str]]:
    """BM25 (bm25s, its default Lucene variant, k1 1.5, b 0.75), English stop words, no stemming."""
    import bm25s
    doc_ids = list(corpus)
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([corpus[d] for d in doc_ids], stopwords="en", show_progress=False),
                    show_progress=False)
    query_tokens = bm25s.tokenize(list(queries.values()), stopwords="en", return_ids=False, show_progress=False)
    query_tokens = [q if q else ["[empty]"] for q in query_tokens]
    found, _ = retriever.retrieve(query_tokens, k=min(k, len(doc_ids)), show_progress=False)
    return [[doc_ids[i] for i in row] for row in found.tolist()]


def load_retrieval_data(data: str | None, beir: str | None):
    """(name, corpus, queries, qrels) of `--data pydocs-retrieval` or `--beir PATH`."""
    from ..data.text import pydocs_retrieval, read_beir
    if beir:
        if data:
            raise ValueError("give --data or --beir, not both")
        return str(beir), *read_beir(beir)
    if data in (None, "pydocs-retrieval"):
        return "pydocs-retrieval", *pydocs_retrieval()
    raise ValueError(f"--data {data!r}: retrieval data is pydocs-retrieval (built in) or a BEIR folder "
                     "given with --beir PATH")


def format_table(rows: list[RetrievalResult], title: str) -> str:
    width = max(len(r.name) for r in rows)
    lines = [title, f"{'model':<{width}}  {'nDCG@10':>8}  {'MRR@10':>8}  {'R@100':>8}"]
    lines += [f"{r.name:<{width}}  {r.ndcg10:>8.4f}  {r.mrr10:>8.4f}  {r.recall100:>8.4f}" for r in rows]
    return "\n".join(lines)


def retrieve_run(run: str | Path, data: str | None = None, beir: str | None = None, seed: int = 0,
                 progress: bool = True) -> tuple[list[RetrievalResult], str]:
    """Evaluate run `run`'s text encoder, its architecture at random init and BM25; writes RUN/retrieve.json."""
    from ..config import PretrainConfig
    from ..data import MODALITIES
    from ..io.checkpoint import build_untrained, load_run
    run = Path(run)
    model, raw = load_run(run)
    if not hasattr(model, "text_features"):
        raise ValueError(f"{run}: retrieval needs a text encoder (recipe {raw.get('recipe')!r} is not one)")
    name, corpus, queries, qrels = load_retrieval_data(data, beir)
    config = PretrainConfig.from_dict(raw)
    transform = MODALITIES["text"].eval_transform(model, config)
    query_ids = list(queries)
    rows = []
    for label, m in (("anymae encoder", model), ("random init", build_untrained(raw, seed=seed))):
        ranked = dense_rankings(m, corpus, queries, transform, progress=progress, name=label)
        rows.append(RetrievalResult(f"{label} [{model.representation}]", *score_rankings(ranked, query_ids, qrels)))
        for layer, width in getattr(model, "matryoshka_pairs", ()):   # Starbucks: every (layer, width) sub-model
            ranked = dense_rankings(m, corpus, queries, transform, progress=progress, name=f"{label} {layer}x{width}",
                                    features=lambda ids, m=m, l=layer, w=width: m.sub_features(ids, l, w))
            rows.append(RetrievalResult(f"{label} [CLS layer {layer}, width {width}]",
                                        *score_rankings(ranked, query_ids, qrels)))
    rows.append(RetrievalResult("BM25 (bm25s)", *score_rankings(bm25_rankings(corpus, queries), query_ids, qrels)))
    title = f"retrieval on {name}: {len(queries)} queries, {len(corpus)} documents"
    write_text(run / "retrieve.json", json.dumps({"data": name, "queries": len(queries), "documents": len(corpus),
                                                  "results": [r.__dict__ for r in rows]}, indent=2))
    return rows, format_table(rows, title)
