"""CRATE-MAE (row 8) vs MAE at equal budget: parameters, training-step time, linear/kNN probe.

`crate_mae_tiny` and `mae_vit_tiny` have the same configuration (192-d x 12 encoder, 128-d x 4 decoder,
32 px, 4 px patches, mask 0.75). Each is pretrained by `anymae pretrain` for the same steps and batch on
the same data, then probed by `anymae probe` (random init and pixel/HOG baselines printed beside).
Step time: one forward + backward + AdamW step, median over `--time-steps`, the two models alternated in
one process so that load on the shared machine hits both alike (wall and process CPU time).

    python benchmarks/crate_vs_mae.py [--data shapes] [--steps 200] [--batch 64] [--out runs/crate_vs_mae]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from anymae.spec import ModelSpec, build_model

RECIPES = ("crate_mae_tiny", "mae_vit_tiny")


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def step_flops(name: str, batch: int) -> int:
    """FLOPs of one forward + backward (torch.utils.flop_counter; attention through the math kernel)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode
    model = build_model(ModelSpec(name, {}), seed=0)
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False)
    with counter, sdpa_kernel(SDPBackend.MATH):
        model(x, generator=torch.Generator().manual_seed(0)).loss.backward()
    return counter.get_total_flops()


def step_times(steps: int, batch: int) -> dict[str, tuple[float, float]]:
    models = {n: build_model(ModelSpec(n, {}), seed=0) for n in RECIPES}
    opts = {n: torch.optim.AdamW(m.parameters(), lr=1e-4) for n, m in models.items()}
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    times = {n: [] for n in RECIPES}
    for i in range(steps + 2):
        for n in RECIPES if i % 2 == 0 else RECIPES[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            out = models[n](x, generator=torch.Generator().manual_seed(i))
            opts[n].zero_grad(set_to_none=True)
            out.loss.backward()
            opts[n].step()
            if i >= 2:
                times[n].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {n: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for n, v in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="shapes")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--time-steps", type=int, default=6)
    p.add_argument("--out", default="runs/crate_vs_mae")
    p.add_argument("--no-probe", action="store_true", help="parameters and step time only (no pretraining)")
    args = p.parse_args()
    out = Path(args.out)
    cli = [sys.executable, "-m", "anymae"]
    rows = {}
    for name in RECIPES:
        model = build_model(ModelSpec(name, {}), seed=0)
        rows[name] = {"params": count(model), "encoder_params": count(model.encoder),
                      "step_gflops": step_flops(name, args.batch) / 1e9}
        if args.no_probe:
            continue
        run = out / name
        if not (run / "encoder.safetensors").exists():
            subprocess.run(cli + ["pretrain", "--recipe", name, "--data", args.data, "--steps", str(args.steps),
                                  "--batch-size", str(args.batch), "--out", str(run)], check=True)
        probe = subprocess.run(cli + ["probe", str(run)], check=True, capture_output=True, text=True).stdout
        print(probe)
        rows[name]["probe"] = json.loads((run / "probe.json").read_text())["results"]
    for name, (wall, cpu) in step_times(args.time_steps, args.batch).items():
        rows[name]["step_wall_s"], rows[name]["step_cpu_s"] = wall, cpu
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
