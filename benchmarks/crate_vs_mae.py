"""CRATE-MAE (row 8) vs MAE at equal budget: parameters, training-step time, linear/kNN probe.

`crate_mae_tiny` and `mae_vit_tiny` have the same configuration (192-d x 12 encoder, 128-d x 4 decoder,
32 px, 4 px patches, mask 0.75). Each is pretrained by `anymae pretrain` for the same steps and batch on
the same data, then probed by `anymae probe` (random init and pixel/HOG baselines printed beside).
Both pretrain with the same base learning rate (`--blr`, the recipes set none), seed, steps and batch.
Step time: CPU seconds (process time, one thread) of one forward + backward + AdamW step, the median of
`--rounds` rounds, the two models round-robin in one process (benchmarks/targets.py `round_robin_step_times`)
so that load on the shared machine hits both alike; the ratio is the figure to read.

    python benchmarks/crate_vs_mae.py [--data shapes] [--steps 300] [--batch 64] [--blr 2e-3] [--out runs/crate_vs_mae]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from anymae.spec import ModelSpec, build_model
from targets import round_robin_step_times  # benchmarks/targets.py: the round-robin CPU timing of training steps

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


def step_times(batch: int, rounds: int, per_round: int = 2) -> dict[str, float]:
    """Median CPU seconds per training step of each recipe at `batch` 32 px images, one thread, round-robin."""
    torch.set_num_threads(1)
    models = {n: build_model(ModelSpec(n, {}), seed=0).train() for n in RECIPES}
    opts = {n: torch.optim.AdamW(m.parameters(), lr=1e-4) for n, m in models.items()}
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return round_robin_step_times(models, opts, {n: x for n in RECIPES}, rounds, per_round)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="shapes")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--blr", type=float, default=2e-3, help="base learning rate of both (lr = blr x batch / 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=5, help="timing rounds of 2 steps per model")
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
                                  "--batch-size", str(args.batch), "--blr", str(args.blr), "--seed", str(args.seed),
                                  "--workers", "0", "--out", str(run)], check=True)
        probe = subprocess.run(cli + ["probe", str(run)], check=True, capture_output=True, text=True).stdout
        print(probe)
        rows[name]["probe"] = json.loads((run / "probe.json").read_text())["results"]
    for name, cpu in step_times(args.batch, args.rounds).items():
        rows[name]["step_cpu_s"] = cpu
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
