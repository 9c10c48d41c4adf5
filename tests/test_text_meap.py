"""MEAP (PAPERS.md row 38): a causal LM (no position sees a later one), masked inputs with exact counts and
clean next-token targets, plain NTP as ratio 0, and the key-information retrieval task's construction."""
from __future__ import annotations

import random

import pytest
import torch

import anymae
from anymae.cli import main
from anymae.data.text import train_wordpiece
from anymae.eval.lm import NEEDLE, QUESTION, key_retrieval, key_retrieval_trials, perplexity
from anymae.masking.text import CausalInputMasker
from test_text import WORDS, batch as text_batch  # tests/test_text.py: the word list and id batches

SMALL = dict(vocab_size=200, max_len=24, dim=32, depth=2, heads=2)


def batch(model, lengths=(24, 15, 6), seed=0) -> torch.Tensor:
    return text_batch(model, lengths, seed)


def test_attention_is_causal():
    """Changing token j changes no output before j (and changes the outputs from j on)."""
    torch.manual_seed(0)
    model = anymae.create("meap_tiny", **SMALL).eval()
    ids = batch(model)
    with torch.no_grad():
        a = model.next_token_logits(ids)
        for j in (3, 10, 20):
            changed = ids.clone()
            changed[0, j] = 7 if ids[0, j] != 7 else 8
            b = model.next_token_logits(changed)
            assert torch.allclose(a[0, :j], b[0, :j], atol=1e-5), j
            assert (a[0, j] - b[0, j]).abs().max() > 1e-4, j


def test_pads_after_a_text_change_nothing():
    torch.manual_seed(0)
    model = anymae.create("meap_tiny", **{**SMALL, "max_len": 40}).eval()
    short = batch(model, lengths=(24, 15))[:, :24]
    longer = torch.nn.functional.pad(short, (0, 16), value=0)
    with torch.no_grad():
        assert torch.allclose(model.next_token_logits(short)[1, :15], model.next_token_logits(longer)[1, :15],
                              atol=1e-5)
        assert torch.allclose(model.text_features(short, "retrieval"), model.text_features(longer, "retrieval"),
                              atol=1e-5)
        nll_short, real_short = model.token_nll(short)
        nll_long, real_long = model.token_nll(longer)
    assert int(real_short.sum()) == int(real_long.sum()) == 23 + 14
    assert torch.allclose(nll_short[real_short], nll_long[real_long], atol=1e-4)


def test_masked_inputs_exact_count_and_clean_targets():
    masker = CausalInputMasker(0.15)
    ids = torch.randint(5, 200, (6, 40), generator=torch.Generator().manual_seed(0))
    ids[:, 0], ids[:, -1] = 2, 3
    ids[3, 20:] = 0
    ids[3, 19] = 3
    ordinary = (ids > 4)
    inputs, chosen = masker.corrupt(ids, ordinary, 4, 200, torch.Generator().manual_seed(1))
    assert chosen.sum(1).tolist() == [round(0.15 * int(n)) for n in ordinary.sum(1)]
    assert (inputs[chosen] == 4).all() and torch.equal(inputs[~chosen], ids[~chosen])
    plain, none = CausalInputMasker(0.0).corrupt(ids, ordinary, 4, 200)
    assert torch.equal(plain, ids) and not none.any()


def test_meap_loss_is_next_token_of_the_clean_text():
    """MEAP's loss equals the cross-entropy of the clean next tokens read from the masked input; NTP (ratio 0)
    is the same model reading the clean input."""
    torch.manual_seed(0)
    meap = anymae.create("meap_tiny", **SMALL).eval()
    ntp = anymae.create("ntp_tiny", **SMALL).eval()
    ntp.load_state_dict(meap.state_dict())
    ids = batch(meap)
    out = meap(ids, generator=torch.Generator().manual_seed(0))
    masked = ids.masked_fill(out.chosen, meap.tokenizer.mask_id)
    logits = meap.next_token_logits(masked)[:, :-1]
    real = ids[:, 1:] != 0
    want = torch.nn.functional.cross_entropy(logits[real], ids[:, 1:][real])
    assert out.chosen.any() and float(out.loss.detach()) == pytest.approx(float(want), rel=1e-5)
    plain = ntp(ids, generator=torch.Generator().manual_seed(0))
    nll, real2 = ntp.token_nll(ids)
    assert not plain.chosen.any() and float(plain.loss.detach()) == pytest.approx(float(nll[real2].mean()), rel=1e-5)


def test_key_retrieval_trials_place_the_key_and_ask_for_it():
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(30)) for _ in range(40)]
    tok = train_wordpiece(texts + ["the secret key is alpha beta gamma delta ."] * 3, 120)
    ids, keys, depths = key_retrieval_trials(tok, texts, 48, trials=6, seed=0)
    question = tok.encode(QUESTION, add_special_tokens=False).ids
    assert ids.shape == (6, 48) and set(depths) == {0.1, 0.5, 0.9}
    for row, key in zip(ids.tolist(), keys.tolist()):
        assert row[0] == tok.token_to_id("[CLS]") and row[-len(question):] == question
        assert row.count(key) == 1                                  # in the needle only
        needle = tok.encode(NEEDLE.format(key=tok.id_to_token(key)), add_special_tokens=False).ids
        assert any(row[i:i + len(needle)] == needle for i in range(len(row)))

    class Oracle(torch.nn.Module):
        """Puts all its mass on each row's key: accuracy 1, MRR 1, log-probability 0."""
        tokenizer = type("T", (), {"pad_id": 0})

        def next_token_logits(self, x):
            out = torch.full((x.shape[0], x.shape[1], 120), -1e4)
            out[torch.arange(x.shape[0]), -1, keys[:x.shape[0]]] = 1e4
            return out

        def token_nll(self, x):
            return torch.ones(x.shape[0], x.shape[1] - 1), x[:, 1:] != 0

    assert key_retrieval(Oracle(), ids, keys, batch_size=6) == pytest.approx((1.0, 1.0, 0.0))
    assert perplexity(Oracle(), ids) == pytest.approx(2.718281828, rel=1e-6)


def test_pretrain_meap_on_a_folder(tmp_path):
    rng = random.Random(1)
    for i in range(10):
        (tmp_path / f"d{i}.txt").write_text(" ".join(rng.choice(WORDS) for _ in range(30)))
    args = ["pretrain", "--recipe", "meap_tiny", "--data", str(tmp_path), "--steps", "2", "--batch-size", "4",
            "--out", str(tmp_path / "run")] + [f"--arg={k}={v}" for k, v in {**SMALL, "vocab_size": 100}.items()]
    assert main(args) == 0
    model, _ = anymae.io.checkpoint.load_run(tmp_path / "run")
    assert model.encoder.causal and model.masker.ratio == 0.15
    assert main(["export", str(tmp_path / "run"), "--to", "hf", "--out", str(tmp_path / "hf")]) == 2  # not a BERT
    assert not (tmp_path / "hf").exists()
