"""bf16-mixed against fp32 on this CPU (issue 23): matmul peak and anymae's training step, interleaved.

    python benchmarks/cpu_bf16.py --steps 8 --out docs/cpu_bf16.json

In one process, 1 torch thread: a square matmul in fp32 and bf16, alternating; then anymae's tiny32
step (mae_vit_tiny at 32 px, patch 4, batch 64: forward + backward + fused AdamW) with and without bf16
autocast, alternating step by step, so machine load hits both alike. Reports the best matmul GFLOP/s of
each, the median step times and their ratio, and the CPU's native bf16 flags.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", default="docs/cpu_bf16.json")
    args = ap.parse_args(argv)
    import torch
    from anymae.spec import ModelSpec, build_model
    from anymae.train.module import make_optimizer, step_generator
    from anymae.train.speed import cpu_bf16_flags
    torch.set_num_threads(1)
    n, peaks = 1024, {"float32": [], "bfloat16": []}
    mats = {d: (torch.randn(n, n).to(getattr(torch, d)), torch.randn(n, n).to(getattr(torch, d))) for d in peaks}
    for _ in range(9):
        for d, (a, b) in mats.items():
            t = time.perf_counter()
            a @ b
            peaks[d].append(2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    models, opts = {}, {}
    for name in ("fp32", "bf16-mixed"):
        models[name] = build_model(ModelSpec("mae_vit_tiny", {"image_size": 32, "patch_size": 4}), seed=0).train()
        opts[name] = make_optimizer(models[name], 1.5e-4, 0.05)
    x = torch.randn(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    times = {name: [] for name in models}
    losses = {name: [] for name in models}
    for step in range(args.steps + 2):
        for name, model in models.items():
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bf16-mixed"):
                loss = model(x, generator=step_generator(0, 0, step, x.device)).loss
            loss.backward()
            opts[name].step()
            opts[name].zero_grad(set_to_none=True)
            if step >= 2:
                times[name].append(time.perf_counter() - t)
            losses[name].append(float(loss.detach()))
    step_s = {k: statistics.median(v) for k, v in times.items()}
    result = {"cpu_bf16_flags": sorted(cpu_bf16_flags()), "capability": torch.backends.cpu.get_cpu_capability(),
              "matmul_gflops_best": {d: round(max(v), 1) for d, v in peaks.items()},
              "matmul_bf16_over_fp32": round(max(peaks["bfloat16"]) / max(peaks["float32"]), 2),
              "step_s_median": {k: round(v, 3) for k, v in step_s.items()},
              "step_bf16_over_fp32": round(step_s["bf16-mixed"] / step_s["fp32"], 2),
              "per_step_ratios": [round(b / a, 2) for a, b in zip(times["fp32"], times["bf16-mixed"])],
              "loss_last": {k: round(v[-1], 4) for k, v in losses.items()}, "batch": args.batch, "threads": 1}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
