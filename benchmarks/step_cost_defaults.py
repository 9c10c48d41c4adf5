"""Per-step cost of `mae_laptop`'s lever variants as a ratio to the default, measured in one process with the
variants interleaved (so machine load hits all alike; `round_robin_step_times` of benchmarks/targets.py):
forward with masking + backward + AdamW step on a fixed batch of 128 random 32-px images, one thread unless
told; each figure is the median over rounds of the process CPU time a step.

    python benchmarks/step_cost_defaults.py --steps 20 --repeats 3
"""
from __future__ import annotations

import argparse

import torch
from targets import round_robin_step_times  # benchmarks/targets.py: the round-robin CPU timing of training steps

import anymae

VARIANTS = {
    "mae_laptop": ("mae_laptop", {}),
    "pixel_grad=False": ("mae_laptop", {"pixel_grad": False}),
    "hog_weight=1": ("mae_laptop", {"hog_weight": 1.0}),
    "patch_size=4": ("mae_laptop", {"patch_size": 4}),
    "mp3_vit_tiny (64-d x 6)": ("mp3_vit_tiny", {}),
    # the full-budget sweep's levers (benchmarks/sweep_parallel.py)
    "stem_width=16": ("mae_laptop", {"stem_width": 16}),
    "pixel_grad=False, dec 32x1": ("mae_laptop", {"pixel_grad": False, "decoder_dim": 32, "decoder_depth": 1,
                                                  "decoder_heads": 2}),
    "patch 4, 32-d": ("mae_laptop", {"patch_size": 4, "dim": 32, "heads": 2}),
    "96-d": ("mae_laptop", {"dim": 96, "heads": 4}),
    "mask_ratio=0.75": ("mae_laptop", {"mask_ratio": 0.75}),
    "drop_path=0.1": ("mae_laptop", {"drop_path": 0.1}),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(128, 3, 32, 32)
    models, optims = {}, {}
    for name, (recipe, kwargs) in VARIANTS.items():
        models[name] = anymae.create(recipe, **kwargs).train()
        optims[name] = torch.optim.AdamW(models[name].parameters(), lr=1e-3)
    seconds = round_robin_step_times(models, optims, {name: x for name in models}, args.repeats, args.steps)
    print(f"{'variant':28s} {'s/step':>8s} {'x default':>10s}")
    for name in models:
        print(f"{name:28s} {seconds[name]:8.3f} {seconds[name] / seconds['mae_laptop']:10.2f}")

if __name__ == "__main__":
    main()
