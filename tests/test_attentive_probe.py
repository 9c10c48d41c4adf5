"""The attentive probe (eval/attentive.py): it reads the one token that carries the label, where a fixed
pooling drowns it; it is deterministic; its baselines are the probe's own rows, unflattened."""
import json

import numpy as np
import pytest
import torch

from anymae.eval.attentive import attentive_probe
from anymae.eval.baselines import hog_blocks, hog_features, patches, token_baselines
from anymae.eval.probe import linear_probe


def flagged_tokens(count: int, tokens: int = 16, seed: int = 0):
    """[count,tokens,2] tokens (flag, value): one token per sample is flagged, at a random place, and its
    value is the label's sign; every other token's value is a random sign."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    x = np.zeros((count, tokens, 2), dtype=np.float32)
    x[:, :, 1] = rng.choice([-1.0, 1.0], (count, tokens))
    where = rng.integers(0, tokens, count)
    x[np.arange(count), where, 0] = 1.0
    x[np.arange(count), where, 1] = 2.0 * labels - 1.0
    return x, labels


def test_the_attentive_probe_finds_the_token_that_carries_the_label_where_mean_pooling_cannot():
    torch.set_num_threads(1)
    x, y = flagged_tokens(1200)
    train, test = slice(0, 800), slice(800, None)
    mean_pooled = x.mean(1)
    pooled = linear_probe(mean_pooled[train], y[train], mean_pooled[test], y[test])
    attentive = attentive_probe(x[train], y[train], x[test], y[test], seed=0)
    assert pooled < 0.75           # the label token is one of 16 in the mean
    assert attentive > 0.95        # the query learns to attend to the flagged token


def test_the_attentive_probe_is_deterministic_and_refuses_pooled_features():
    torch.set_num_threads(1)
    x, y = flagged_tokens(300, seed=1)
    runs = [attentive_probe(x[:200], y[:200], x[200:], y[200:], seed=3, epochs=5) for _ in range(2)]
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match="tokens"):
        attentive_probe(x[:200].mean(1), y[:200], x[200:].mean(1), y[200:])


def test_baseline_tokens_are_the_probes_own_features_unflattened():
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    blocks = hog_blocks(images)
    assert blocks.shape == (3, 9, 36)                                   # 3x3 blocks of 2x2 cells x 9 bins
    assert np.array_equal(blocks.reshape(3, -1), hog_features(images))  # the HOG row's 324 numbers
    tokens = patches(images, 8)
    assert tokens.shape == (3, 16, 3 * 64)
    row, col = divmod(6, 4)                                             # token 6: the patch at row 1, column 2
    want = images[:, :, 8 * row:8 * row + 8, 8 * col:8 * col + 8].reshape(3, -1).numpy()
    assert np.array_equal(tokens[:, 6], want)


def test_probe_attentive_reads_every_row_and_refuses_runs_without_token_baselines(tmp_path):
    from anymae.cli import main
    from conftest import TINY
    run = tmp_path / "run"
    assert main(["pretrain", "--data", "faces", "--epochs", "1", "--batch-size", "70", "--out", str(run),
                 *TINY]) == 0
    assert main(["probe", str(run), "--attentive"]) == 0
    rows = json.loads((run / "probe.json").read_text())["results"]
    assert [r["name"].split(" [")[0] for r in rows] == ["anymae encoder", "random init", "raw pixels", "HOG"]
    assert all(0.0 <= r["attentive"] <= 1.0 for r in rows)
    assert rows[3]["attentive"] > 0.6                                    # HOG's blocks tell faces apart
    with pytest.raises(ValueError, match="attentive probe reads images"):
        token_baselines("points", [], [], 8)
