"""The GPU check (benchmarks/gpu_check.py) runs end to end on a CPU with tiny sizes, so it never rots."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_cpu_tiny(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--tiny",
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    tests = result["cuda_tests"]
    if not torch.cuda.is_available():  # collected and skipped, none failed
        assert tests["skipped"] >= 5 and tests["failed"] == 0 and tests["passed"] == 0
    rows = result["throughput"]["rows"]
    assert {r["impl"] for r in rows} == {"anymae", "hf", "lightly", "official"}
    for r in rows:
        assert "error" not in r, r
        assert r["images_per_s"] > 0 and r["flops_per_step"] > 0 and 0 < r["mfu"] and math.isfinite(r["loss"])
    pipe = result["pipeline"]
    assert [r["workers"] for r in pipe["rows"]][0] == 0 and all(r["images_per_s"] > 0 for r in pipe["rows"])
    assert pipe["best_over_consumption"] > 0
    assert "| anymae |" in (tmp_path / "gpu_check.md").read_text()


def test_precision_summary_names_native_cpu_bf16(monkeypatch):
    import anymae.train.speed as speed
    monkeypatch.setattr(speed, "uses_cuda", lambda accelerator: False)
    monkeypatch.setattr(speed, "cpu_bf16_flags", lambda: {"avx512_bf16"})
    default = speed.precision_summary(None, "cpu")
    assert default["precision"] == "32-true" and default["cpu_native_bf16"] == ["avx512_bf16"]
    assert "avx512_bf16" in default["precision_reason"]
    assert speed.precision_summary("bf16-mixed", "cpu")["precision"] == "bf16-mixed"
    monkeypatch.setattr(speed, "cpu_bf16_flags", lambda: set())
    assert "no native bf16" in speed.precision_summary(None, "cpu")["precision_reason"]



def test_cuda_runs_turn_tf32_on(monkeypatch):
    import anymae.train.speed as speed
    from anymae.config import PretrainConfig
    from anymae.spec import ModelSpec, build_model
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    model = build_model(ModelSpec("mae_vit_tiny", {"image_size": 8, "patch_size": 4, "depth": 1, "dim": 32,
                                                   "heads": 2, "decoder_dim": 32, "decoder_depth": 1,
                                                   "decoder_heads": 2}), seed=0)
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        speed.apply_speed_options(model, PretrainConfig(accelerator="cpu"))
        assert not torch.backends.cuda.matmul.allow_tf32
        monkeypatch.setattr(speed, "uses_cuda", lambda accelerator: True)
        speed.apply_speed_options(model, PretrainConfig())
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
