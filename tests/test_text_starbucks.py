"""Starbucks (PAPERS.md row 27): one loss term per (layer, width) sub-model, each reading only its own
sub-model, and `anymae retrieve` scoring every (layer, width) beside random init and BM25."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

import anymae
from anymae.cli import main
from anymae.data.text import write_beir
from anymae.terms import StepContext
from test_text import WORDS, batch as text_batch  # tests/test_text.py: the word list and id batches

SMALL = dict(vocab_size=200, max_len=20, dim=32, depth=3, heads=2, pairs="1x8,2x16,3x32")


def batch(model, lengths=(20, 14, 6), seed=0) -> torch.Tensor:
    return text_batch(model, lengths, seed)


def test_one_term_per_layer_width_pair_and_they_sum_to_the_loss():
    torch.manual_seed(0)
    model = anymae.create("starbucks_tiny", **SMALL)
    assert model.matryoshka_pairs == ((1, 8), (2, 16), (3, 32))
    out = model(batch(model), generator=torch.Generator().manual_seed(0))
    assert list(out.terms) == ["starbucks_l1_w8", "starbucks_l2_w16", "starbucks_l3_w32"]
    assert float(out.loss.detach()) == pytest.approx(float(sum(out.terms.values())), rel=1e-6)
    # at init every sub-model predicts near-uniformly: each term is (MLM + MAE) / 2 / 3 ~ log(V) / 3
    for value in out.terms.values():
        assert float(value) == pytest.approx(torch.log(torch.tensor(200.0)).item() / 3, rel=0.1)


def test_each_term_reads_only_its_sub_model():
    """The (l, w) term depends on the first w dimensions of layer l's output alone: changing the rest of that
    layer and every other layer leaves it unchanged (and changes the other pairs' terms)."""
    torch.manual_seed(0)
    model = anymae.create("starbucks_tiny", **SMALL).eval()
    ids = batch(model)
    tokens = model.tokenize(ids)
    chosen = ids.eq(-1)
    chosen[:, 2:5] = True
    layers = dict(zip([0, 1, 2], model.encode_layers(ids, [0, 1, 2])))

    def terms(outputs):
        ctx = StepContext(model, ids, tokens, chosen, outputs[2], None, ids, None, torch.Generator().manual_seed(5),
                          outputs)
        return model.aux[0](ctx)

    base = terms(layers)
    for (layer, width), name in zip(((1, 8), (2, 16), (3, 32)), base):
        changed = {i: h + torch.randn_like(h) for i, h in layers.items()}
        changed[layer - 1][..., :width] = layers[layer - 1][..., :width]
        after = terms(changed)
        assert torch.equal(after[name], base[name]), name
        assert all((after[n] - base[n]).abs() > 1e-5 for n in base if n != name), name


def test_sub_features_are_the_first_dims_of_a_layer_cls():
    model = anymae.create("starbucks_tiny", **SMALL).eval()
    ids = batch(model)
    with torch.no_grad():
        (second,) = model.encode_layers(ids, [1])
        feats = model.sub_features(ids, 2, 16)
    assert feats.shape == (3, 16)
    assert torch.allclose(feats, torch.nn.functional.normalize(second[:, 0, :16], dim=-1))
    with pytest.raises(ValueError, match="outside the encoder"):
        anymae.create("starbucks_tiny", **{**SMALL, "pairs": "4x8"})
    with pytest.raises(ValueError, match="LAYERxWIDTH"):
        anymae.create("starbucks_tiny", **{**SMALL, "pairs": "2-16"})


def test_retrieve_scores_every_layer_width(tmp_path, capsys):
    rng = random.Random(0)
    docs = {f"d{i}": " ".join(rng.choice(WORDS) for _ in range(15)) + f" marker{i}" for i in range(12)}
    beir = write_beir(tmp_path / "beir", docs, {"q1": "marker1", "q2": "marker5 numpy"},
                      {"q1": {"d1": 1}, "q2": {"d5": 1}})
    run = tmp_path / "run"
    args = ["pretrain", "--recipe", "starbucks_tiny", "--data", str(beir), "--steps", "2", "--batch-size", "4",
            "--out", str(run)] + [f"--arg={k}={v}" for k, v in {**SMALL, "vocab_size": 120}.items()]
    assert main(args) == 0
    assert main(["retrieve", str(run), "--beir", str(beir)]) == 0
    assert "layer 1, width 8" in capsys.readouterr().out
    names = [r["name"] for r in json.loads((run / "retrieve.json").read_text())["results"]]
    for who in ("anymae encoder", "random init"):
        assert [n for n in names if n.startswith(who) and "layer" in n] == [
            f"{who} [CLS layer {l}, width {w}]" for l, w in ((1, 8), (2, 16), (3, 32))]
    assert names[-1] == "BM25 (bm25s)"
