"""CRATE-MAE (row 8) vs MAE at equal budget: parameters, training-step time, linear/kNN probe.

Two recipes (`--recipes`, default `crate_mae_vit_tiny mae_vit_tiny`: the same configuration, 192-d x 12
encoder, 128-d x 4 decoder, 32 px, 4 px patches, mask 0.75). Each is pretrained by `anymae pretrain` on the
same data and seed, then probed by `anymae probe` (random init and pixel/HOG baselines printed beside).
`--steps`, `--batch` and `--blr` take one value for both or one per recipe, so that two recipes of different
cost can be given the same CPU time (e.g. `crate_mae_tiny` at its own 3,000 steps of 128 against
`mae_vit_tiny` at 250 steps of 64); without `--blr` each recipe keeps its own.
Step time: CPU seconds (process time, one thread) of one forward + backward + AdamW step at each recipe's
batch, the median of `--rounds` rounds, the two models round-robin in one process (benchmarks/targets.py
`round_robin_step_times`) so that load on the shared machine hits both alike; the ratio is the figure to read.

    python benchmarks/crate_vs_mae.py [--recipes A B] [--data shapes] [--steps 300 [N2]] [--batch 64 [B2]]
        [--blr 2e-3 [L2]] [--colour-jitter 0.4] [--pool grid3] [--out runs/crate_vs_mae]
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

PAIR = ("crate_mae_vit_tiny", "mae_vit_tiny")


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


def step_times(batches: dict[str, int], rounds: int, per_round: int = 2) -> dict[str, float]:
    """Median CPU seconds per training step of each recipe at its batch of 32 px images, one thread, round-robin."""
    torch.set_num_threads(1)
    models = {n: build_model(ModelSpec(n, {}), seed=0).train() for n in batches}
    opts = {n: torch.optim.AdamW(m.parameters(), lr=1e-4) for n, m in models.items()}
    x = {n: torch.randn(b, 3, 32, 32, generator=torch.Generator().manual_seed(0)) for n, b in batches.items()}
    return round_robin_step_times(models, opts, x, rounds, per_round)


def per_recipe(values: list, names: tuple[str, ...], flag: str) -> dict:
    """One value for every recipe, or one each."""
    if len(values) not in (1, len(names)):
        raise SystemExit(f"{flag}: give one value or one per recipe ({len(names)})")
    return dict(zip(names, values * len(names) if len(values) == 1 else values))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", nargs=2, default=list(PAIR), help="the two recipes to compare")
    p.add_argument("--data", default="shapes")
    p.add_argument("--steps", type=int, nargs="+", default=[300], help="pretraining steps: one, or one per recipe")
    p.add_argument("--batch", type=int, nargs="+", default=[64], help="batch size: one, or one per recipe")
    p.add_argument("--blr", type=float, nargs="+", default=None,
                   help="base learning rate: one, or one per recipe (default: each recipe's own)")
    p.add_argument("--colour-jitter", type=float, default=None, help="passed to both (default: each recipe's own)")
    p.add_argument("--pool", default=None, help="the probe's reading (default: each run's own)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=5, help="timing rounds of 2 steps per model")
    p.add_argument("--out", default="runs/crate_vs_mae")
    p.add_argument("--no-probe", action="store_true", help="parameters and step time only (no pretraining)")
    args = p.parse_args()
    names = tuple(args.recipes)
    steps, batches = per_recipe(args.steps, names, "--steps"), per_recipe(args.batch, names, "--batch")
    blrs = per_recipe(args.blr, names, "--blr") if args.blr else {}
    out = Path(args.out)
    cli = [sys.executable, "-m", "anymae"]
    rows = {}
    for name in names:
        model = build_model(ModelSpec(name, {}), seed=0)
        rows[name] = {"params": count(model), "encoder_params": count(model.encoder), "batch": batches[name],
                      "step_gflops": step_flops(name, batches[name]) / 1e9}
        if args.no_probe:
            continue
        run = out / name
        if not (run / "encoder.safetensors").exists():
            flags = ["--blr", str(blrs[name])] if name in blrs else []
            if args.colour_jitter is not None:
                flags += ["--colour-jitter", str(args.colour_jitter)]
            subprocess.run(cli + ["pretrain", "--recipe", name, "--data", args.data, "--steps", str(steps[name]),
                                  "--batch-size", str(batches[name]), *flags, "--seed", str(args.seed),
                                  "--workers", "0", "--out", str(run)], check=True)
        pool = ["--pool", args.pool] if args.pool else []
        probe = subprocess.run(cli + ["probe", str(run), *pool], check=True, capture_output=True, text=True).stdout
        print(probe)
        rows[name]["steps"] = steps[name]
        rows[name]["probe"] = json.loads((run / "probe.json").read_text())["results"]
    for name, cpu in step_times(batches, args.rounds).items():
        rows[name]["step_cpu_s"] = cpu
        if "steps" in rows[name]:
            rows[name]["pretrain_cpu_s"] = cpu * rows[name]["steps"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
