"""Scale-out through Lightning: 2-process CPU DDP (gloo) trains like 1 process with the same global batch,
and its checkpoint resumes on 1 process."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anymae.cli import main

TINY = ["--image-size", "16", "--patch-size", "4", "--arg", "dim=32", "--arg", "depth=1", "--arg", "heads=2",
        "--arg", "decoder_dim=32", "--arg", "decoder_depth=1", "--arg", "decoder_heads=2",
        "--accelerator", "cpu", "--seed", "3"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """64 small RGB pictures in two classes (44 land in the train split: 2 steps of 16 an epoch)."""
    root = tmp_path_factory.mktemp("scale") / "pictures"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(32):
            smooth = rng.random((4, 4, 3)).repeat(4, 0).repeat(4, 1)
            pixels = (255 * np.clip(smooth + 0.1 * rng.standard_normal((16, 16, 3)), 0, 1)).astype(np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def losses(run: Path) -> dict[int, float]:
    with open(run / "metrics.csv", newline="") as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def ddp_run(folder, tmp_path_factory) -> Path:
    """1 epoch on 2 CPU processes (Lightning DDP, gloo), 8 images per process per step."""
    run = tmp_path_factory.mktemp("ddp") / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "anymae", "pretrain", "--data", str(folder), *TINY, "--epochs", "1",
           "--batch-size", "8", "--devices", "2", "--strategy", "ddp", "--out", str(run)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def single_run(folder, tmp_path_factory) -> Path:
    """The same global batch (16) on 1 process, 1 epoch."""
    run = tmp_path_factory.mktemp("single") / "run"
    assert main(["pretrain", "--data", str(folder), *TINY, "--epochs", "1", "--batch-size", "16",
                 "--devices", "1", "--out", str(run)]) == 0
    return run


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(ddp_run, single_run):
    ddp, single = losses(ddp_run), losses(single_run)
    assert sorted(ddp) == [0, 1]
    for step, value in ddp.items():
        assert value == pytest.approx(single[step], rel=1e-5, abs=1e-6)


def test_ddp_checkpoint_resumes_on_one_process(ddp_run, single_run):
    """The 2-process run's checkpoint continues on 1 process (global batch 16) into a second epoch
    exactly as the 1-process run's own checkpoint does."""
    assert (ddp_run / "checkpoints" / "last.ckpt").exists()
    for run in (ddp_run, single_run):
        assert main(["pretrain", "--resume", str(run), "--devices", "1", "--strategy", "auto",
                     "--batch-size", "16", "--epochs", "2"]) == 0
    resumed, single = losses(ddp_run), losses(single_run)
    assert sorted(resumed) == sorted(single) == [0, 1, 2, 3]
    for step in (2, 3):
        assert resumed[step] == pytest.approx(single[step], rel=1e-4, abs=1e-5)
