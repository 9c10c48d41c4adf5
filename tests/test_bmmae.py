"""BM-MAE (row 15) on volumes: phantom-mri's co-registered sequences, per-modality volume tokens, whole-modality
dropout in the masker, and `anymae impute` of a missing sequence against the mean and copy baselines."""
from __future__ import annotations

import json
import subprocess
import sys
import os

import numpy as np
import torch

import anymae
from anymae.config import PretrainConfig
from anymae.data import load_dataset
from anymae.io.interop import write_run
from anymae.masking.modality import present_mask

SMALL = {"volume_size": 16, "patch_size": 4, "dim": 24, "depth": 1, "heads": 2, "decoder_dim": 24, "decoder_depth": 1,
         "decoder_heads": 2}


def test_phantom_mri_is_three_coregistered_sequences_with_lesion_labels():
    data = load_dataset("phantom-mri", "test", image_size=16)
    assert data.volumes.shape == (200, 3, 16, 16, 16) and torch.bincount(data.labels).tolist() == [100, 100]
    again = load_dataset("phantom-mri", "test", image_size=16)
    assert torch.equal(data.volumes, again.volumes)
    x = data.volumes.float() / 255
    head = x[:, 0] > 0.1  # the head in t1; outside it every sequence is dark (co-registered)
    assert (x.amax(1)[~head] < 0.15).float().mean() > 0.97
    inside = x.permute(1, 0, 2, 3, 4)[:, head]  # [3, voxels in the head]: different contrasts of the same tissues,
    corr = torch.corrcoef(inside)                 # none a scaled copy of another
    assert corr[0, 1] < 0.9 and corr[1, 2] < 0.9 and corr[0, 2] < 0.9


def test_masker_drops_whole_modalities_and_tokens_carry_their_modality():
    torch.manual_seed(0)
    model = anymae.create("bmmae_tiny", **SMALL, whole=0.0)  # the Dirichlet budget masks alone
    x = torch.rand(8, 3, 16, 16, 16)
    tokens = model.tokenize(x)
    assert tokens.grid == (3, 4, 4, 4) and tokens.group.tolist() == [0] * 64 + [1] * 64 + [2] * 64
    assert torch.equal(model.tokenizer.unpatchify(tokens.values), x)
    mask = model.draw_mask(tokens, torch.Generator().manual_seed(1))
    hidden_share = mask.bool.view(8, 3, 64).float().mean(-1)  # [B,M]
    assert (mask.bool.sum(1) == 144).all()  # 75% of 192 tokens
    assert (hidden_share == 1.0).any(), "some modality is dropped whole"
    assert (hidden_share < 1.0).any(1).all(), "every sample keeps some modality"


def test_whole_modality_steps_show_the_encoder_the_imputation_setting():
    """With `whole`, a step keeps every token of k sequences and predicts the others whole: with k = M-1 that is
    exactly the mask `anymae impute` uses, so training sees what imputation asks."""
    from collections import Counter
    model = anymae.create("bmmae_tiny", **SMALL, whole=1.0)
    tokens = model.tokenize(torch.rand(8, 3, 16, 16, 16))
    g = torch.Generator().manual_seed(0)
    kept_counts, subsets = Counter(), Counter()
    for _ in range(60):
        mask = model.draw_mask(tokens, g)
        hidden = mask.bool.view(8, 3, 64)
        per_modality = hidden.float().mean(-1)  # [B,M]: 0 (kept whole) or 1 (hidden whole), nothing between
        assert torch.equal(per_modality, per_modality.round())
        kept = (per_modality == 0).sum(1)
        assert (kept == kept[0]).all() and 1 <= int(kept[0]) <= 2
        kept_counts[int(kept[0])] += 1
        assert torch.equal(mask.predict, mask.hidden)  # every token of the missing sequences is predicted
        for row in range(8):
            subsets[tuple((per_modality[row] == 0).nonzero().flatten().tolist())] += 1
        if int(kept[0]) == 2:  # the imputation mask of the sequence left out, row by row
            row_subset = (per_modality[0] == 0).nonzero().flatten().tolist()
            want = present_mask(model.tokenizer.group, 1, visible=row_subset)
            assert torch.equal(mask.bool[0], want.bool[0])
    assert 15 < kept_counts[1] < 45 and 15 < kept_counts[2] < 45  # k uniform in 1..M-1
    assert len(subsets) == 6  # every non-empty proper subset of the 3 sequences occurs
    mixed = anymae.create("bmmae_tiny", **SMALL, whole=0.5)
    whole_steps = sum(bool(((mixed.draw_mask(tokens, g).bool.view(8, 3, 64).float().mean(-1)) % 1 == 0).all())
                      for _ in range(200))
    assert 70 < whole_steps < 130  # about half the steps (budget masks are rarely whole by chance)


def test_impute_predicts_only_the_missing_modality_and_reports_baselines(tmp_path):
    torch.manual_seed(0)
    model = anymae.create("bmmae_tiny", **SMALL).eval()
    mask = present_mask(model.tokenizer.group, 2, visible=[0, 1], predict=[2])
    assert torch.equal(mask.keep, torch.arange(128).expand(2, -1))
    assert torch.equal(mask.predict.sort(1).values, torch.arange(128, 192).expand(2, -1))
    config = PretrainConfig(recipe="bmmae_tiny", recipe_args=SMALL, data="phantom-mri", modality="volume",
                            mean=[0.3] * 3, std=[0.25] * 3, channels=3)
    write_run(model, config, tmp_path / "run", {})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "anymae", "impute", str(tmp_path / "run"), "--predict", "flair",
                           "--count", "6", "--batch-size", "4", "--out", str(tmp_path / "imp")], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "impute flair from t1, t2" in proc.stdout
    metrics = json.loads((tmp_path / "imp" / "metrics.json").read_text())
    assert set(metrics["mse"]) == {"BM-MAE (bmmae) prediction", "mean volume (train)", "copy t1", "copy t2",
                                   "voxel-wise regression (train)"}
    assert 0 <= metrics["dependence_on_present"] and "dependence on the present sequences" in proc.stdout
    assert metrics["samples"] == 6 and (tmp_path / "imp" / "panel.png").is_file()
    imputed = np.load(tmp_path / "imp" / "imputed.npy")
    assert imputed.shape == (6, 16, 16, 16)           # every test volume imputed, not one batch
    paired = metrics["baseline_minus_model"]["copy t2"]
    assert abs(paired["mean"] - (metrics["mse"]["copy t2"] - metrics["mse"]["BM-MAE (bmmae) prediction"])) < 1e-6
    assert paired["standard_error"] > 0 and 0 <= paired["model_wins"] <= 6
    bad = subprocess.run([sys.executable, "-m", "anymae", "impute", str(tmp_path / "run"), "--predict", "dwi"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert bad.returncode == 2 and "unknown modality ['dwi']" in bad.stderr and "Traceback" not in bad.stderr


def test_recipe_training_settings_make_the_imputation_read_the_present_sequences():
    """The failure diagnosed in docs/volumes.md (benchmarks/bmmae_diagnose.py): a BM-MAE first learns the mean volume
    and only after a few hundred optimizer updates starts to read the co-registered sequences it is given; the old
    run (batch 32, peak lr 5e-4, 800 updates) never left the first phase and imputed one average head. A small
    bmmae_tiny (8^3 phantoms) trained at the recipe's learning rate and batch for 500 updates must impute flair from
    t1, t2 better than the training set's mean volume, and its imputation must follow the subject."""
    from anymae.data.volume import volume_stats
    from anymae.eval.impute_volume import impute_missing, present_dependence
    from anymae.recipes.registry import get_recipe
    train_settings = get_recipe("bmmae_tiny").train
    batch = train_settings["batch_size"]
    lr = train_settings["blr"] * batch / 256
    torch.manual_seed(0)
    model = anymae.create("bmmae_tiny", **{**SMALL, "volume_size": 8})
    train, test = (load_dataset("phantom-mri", split=s, image_size=8) for s in ("train", "test"))
    mean, std = (torch.tensor(t).view(1, -1, 1, 1, 1) for t in volume_stats(train))
    x_train, x_test = ((torch.stack([d.pixels(i) for i in range(len(d))]) - mean) / std for d in (train, test))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(0)
    for _ in range(500):
        loss = model(x_train[torch.randint(0, len(x_train), (batch,), generator=g)], generator=g).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x = x_test[:64]
    guess = impute_missing(model, x, [0, 1], 2)
    moved, between = present_dependence(model, x, [0, 1], 2, guess)
    model_mse = float(((guess - x[:, 2]) ** 2).mean())
    mean_mse = float(((x_train[:, 2].mean(0) - x[:, 2]) ** 2).mean())
    assert model_mse < 0.95 * mean_mse
    assert moved / between > 0.1  # 0 for a model that imputes one volume whatever it is given
