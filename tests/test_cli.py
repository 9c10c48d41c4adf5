"""The `anymae` command end to end on tiny settings: every file of the run folder is made."""
import json
import os
import subprocess
import sys

import pytest
import yaml
from PIL import Image

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def anymae(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "anymae", *args], capture_output=True, text=True, env=ENV,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"anymae {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from conftest import TINY
    run = tmp_path_factory.mktemp("runs") / "tiny"
    proc = anymae("pretrain", "--data", "shapes", "--epochs", "2", "--batch-size", "100", "--seed", "1",
                  "--out", str(run), *TINY)
    assert f"run folder: {run}" in proc.stdout
    return run


def test_pretrain_writes_the_run_folder(tiny_run):
    for name in ("config.yaml", "metrics.csv", "model.safetensors", "encoder.safetensors", "reconstructions.png",
                 "checkpoints/last.ckpt"):
        assert (tiny_run / name).is_file(), name
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert config["recipe"] == "mae_laptop" and config["recipe_args"]["depth"] == 1
    assert config["summary"]["steps"] == 40
    rows = (tiny_run / "metrics.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,epoch,lr,loss") and len(rows) == 41
    img = Image.open(tiny_run / "reconstructions.png")
    assert img.size[0] > 300 and img.size[1] > 300
    check_reconstruction_grid(tiny_run / "reconstructions.png")


def check_reconstruction_grid(path) -> None:
    """The picture holds what its columns say: original | masked | prediction | prediction + visible.
    None is blank; the masked column hides part of the original; pasting the visible patches back makes the
    prediction closer to the original (they are the original's own pixels)."""
    import numpy as np
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float64)[20:]  # below the column titles
    width = pixels.shape[1] // 4
    original, masked, prediction, pasted = (pixels[:, i * width:(i + 1) * width] for i in range(4))
    assert all(column.std() > 20 for column in (original, masked, prediction, pasted))
    assert np.abs(masked - original).mean() > 10
    assert np.abs(pasted - original).mean() < np.abs(prediction - original).mean()


def test_probe_prints_four_rows_and_writes_json(tiny_run):
    proc = anymae("probe", str(tiny_run))
    for row in ("anymae encoder", "random init", "raw pixels", "HOG"):
        assert row in proc.stdout
    result = json.loads((tiny_run / "probe.json").read_text())
    assert [r["name"].split(" [")[0] for r in result["results"]] == ["anymae encoder", "random init", "raw pixels", "HOG"]
    assert all(0.0 <= r["linear"] <= 1.0 and 0.0 <= r["knn"] <= 1.0 for r in result["results"])
    from anymae.data import load_dataset
    chance = 1 / len(load_dataset("shapes", split="test").classes)
    hog = result["results"][3]
    assert hog["linear"] > 1.5 * chance and hog["knn"] > 1.5 * chance  # the probe learns from informative features
    assert result["train"] == 2000 and result["test"] == 1000             # on the whole labelled splits
    encoder, random_init = result["results"][:2]
    assert (encoder["linear"], encoder["knn"]) != (random_init["linear"], random_init["knn"])


def test_reconstruct_draws_a_grid(tiny_run, tmp_path):
    out = tmp_path / "grid.png"
    anymae("reconstruct", str(tiny_run), "--count", "3", "--mask-ratio", "0.5", "--out", str(out))
    w, h = Image.open(out).size
    assert w > h / 3 * 4 * 0.9  # four columns of three rows
    check_reconstruction_grid(out)


def test_recipes_and_help():
    out = anymae("recipes").stdout
    assert "mae_vit_base" in out and "row  0" in out
    for cmd in ("pretrain", "probe", "reconstruct", "recipes"):
        assert "usage: anymae" in anymae(cmd, "--help").stdout


def test_print_config_shows_resolved_settings():
    config = yaml.safe_load(anymae("pretrain", "--data", "digits", "--mask-ratio", "0.6", "--print-config").stdout)
    assert config["recipe_args"]["mask_ratio"] == 0.6
    assert config["recipe_args"]["channels"] == 1 and len(config["mean"]) == 1


def test_bad_settings_fail_with_a_message(tmp_path):
    proc = anymae("pretrain", "--data", "no-such-data", "--out", str(tmp_path / "run"), check=False)
    assert proc.returncode == 2 and "no-such-data" in proc.stderr
    assert not (tmp_path / "run").exists()                      # no empty run folder left behind
    proc = anymae("pretrain", "--image-size", "30", "--patch-size", "4", "--print-config", check=False)
    assert proc.returncode == 2 and "not divisible" in proc.stderr
