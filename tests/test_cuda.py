"""GPU paths (issue 23), run by `pytest -m cuda` and by `benchmarks/gpu_check.py`; skipped without CUDA.

bf16-mixed steps of every laptop recipe, --compile, the SDPA kernel, --grad-checkpointing's memory, and a
1-GPU Lightning run that resumes exactly. The CPU suite skips them (they are never asserted on a CPU).
"""
from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.py)")]

LAPTOP = [name for name in __import__("recipe_steps").rows() if "+" not in name
          and not name.endswith(("_base", "_large", "_huge")) and name != "pointmae"]


def one_step(model, x, precision: str, step: int = 0) -> float:
    """Forward + backward on CUDA under `precision` from a fixed seed; -> the loss."""
    torch.manual_seed(100 + step)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
        out = model(x, generator=torch.Generator("cuda").manual_seed(step))
    out.loss.backward()
    return float(out.loss)


def to_cuda(x):
    return {k: v.cuda() for k, v in x.items()} if isinstance(x, dict) else x.cuda()


@pytest.mark.parametrize("name", LAPTOP)
def test_bf16_step_of_every_laptop_recipe_is_finite_and_close_to_fp32(name):
    from recipe_steps import build, sample_batch
    model, modality = build(name, {})
    model = model.cuda().train()
    x = to_cuda(sample_batch(model, modality))
    fp32 = one_step(model, x, "32-true")
    model.zero_grad(set_to_none=True)
    bf16 = one_step(model, x, "bf16-mixed")
    assert torch.isfinite(torch.tensor(bf16))
    assert bf16 == pytest.approx(fp32, rel=0.05, abs=0.02)  # bf16 keeps 8 bits of mantissa
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_compile_runs_and_matches_eager():
    from anymae.config import PretrainConfig
    from anymae.train.speed import apply_speed_options
    from recipe_steps import build, sample_batch
    eager, modality = build("mae_vit_tiny", {})
    compiled, _ = build("mae_vit_tiny", {})
    compiled.load_state_dict(eager.state_dict())
    apply_speed_options(compiled, PretrainConfig(compile=True))
    x = sample_batch(eager, modality).cuda()
    losses = [one_step(m.cuda().train(), x, "bf16-mixed") for m in (eager, compiled)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-2)


def test_sdpa_uses_a_fused_kernel_flash_or_memory_efficient():
    from recipe_steps import build, sample_batch
    model, modality = build("mae_vit_tiny", {})
    model = model.cuda().train()
    x = sample_batch(model, modality).cuda()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        one_step(model, x, "bf16-mixed")
    names = " ".join(e.name.lower() for e in prof.events())
    assert "flash" in names or "efficient_attention" in names or "fmha" in names, "SDPA fell back to the math kernel"


def peak_step_memory(grad_checkpointing: bool) -> int:
    from anymae.config import PretrainConfig
    from anymae.spec import ModelSpec, build_model
    from anymae.train.speed import apply_speed_options
    model = build_model(ModelSpec("mae_vit_base", {}), seed=0).cuda().train()
    apply_speed_options(model, PretrainConfig(grad_checkpointing=grad_checkpointing))
    x = torch.randn(32, 3, 224, 224, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    one_step(model, x, "bf16-mixed")
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated()


def test_grad_checkpointing_saves_memory():
    plain = peak_step_memory(False)
    torch.cuda.empty_cache()
    assert peak_step_memory(True) < 0.8 * plain


def test_one_gpu_lightning_run_resumes_exactly(tmp_path):
    from anymae.cli import main
    args = ["pretrain", "--data", "digits", "--recipe", "mae_vit_tiny", "--image-size", "8", "--patch-size", "2",
            "--accelerator", "gpu", "--devices", "1", "--precision", "bf16-mixed", "--batch-size", "128",
            "--epochs", "2", "--save-every-n-steps", "3", "--seed", "3"]
    run = tmp_path / "run"
    assert main([*args, "--out", str(run)]) == 0
    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    shutil.copy(resumed / "checkpoints" / "step=12.ckpt", resumed / "checkpoints" / "last.ckpt")
    assert main(["pretrain", "--resume", str(resumed)]) == 0

    def losses(r):
        with open(r / "metrics.csv", newline="") as f:
            return [(row["step"], float(row["loss"])) for row in csv.DictReader(f) if int(row["step"]) >= 12]
    ours, theirs = losses(resumed), losses(run)
    assert [s for s, _ in ours] == [s for s, _ in theirs] and len(ours) > 0
    for (_, a), (_, b) in zip(ours, theirs):
        assert a == pytest.approx(b, rel=1e-3)  # the same batches and masks; GPU kernels may round differently
