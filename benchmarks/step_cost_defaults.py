"""Per-step cost of `mae_laptop`'s lever variants as a ratio to the default, measured in one process with the
variants interleaved (so machine load hits all alike): forward with masking + backward + AdamW step on a
fixed batch of 128 random 32-px images, one thread unless told.

    python benchmarks/step_cost_defaults.py --steps 20 --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import anymae

VARIANTS = {
    "mae_laptop": ("mae_laptop", {}),
    "pixel_grad=False": ("mae_laptop", {"pixel_grad": False}),
    "hog_weight=1": ("mae_laptop", {"hog_weight": 1.0}),
    "patch_size=4": ("mae_laptop", {"patch_size": 4}),
    "mp3_vit_tiny (64-d x 6)": ("mp3_vit_tiny", {}),
}


def step_seconds(model, opt, x, steps: int) -> float:
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model(x).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(128, 3, 32, 32)
    models = {}
    for name, (recipe, kwargs) in VARIANTS.items():
        model = anymae.create(recipe, **kwargs).train()
        models[name] = (model, torch.optim.AdamW(model.parameters(), lr=1e-3))
        step_seconds(*models[name], x, 3)  # warm-up
    ratios = {name: [] for name in models}
    seconds = {name: [] for name in models}
    for _ in range(args.repeats):
        timed = {name: step_seconds(m, o, x, args.steps) for name, (m, o) in models.items()}
        for name, s in timed.items():
            seconds[name].append(s)
            ratios[name].append(s / timed["mae_laptop"])
    print(f"{'variant':26s} {'s/step':>8s} {'x default':>10s}")
    for name in models:
        print(f"{name:26s} {statistics.median(seconds[name]):8.3f} {statistics.median(ratios[name]):10.2f}")


if __name__ == "__main__":
    main()
