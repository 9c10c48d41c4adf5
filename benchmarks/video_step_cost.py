"""The cost of a training step of the video laptop recipes, new defaults against the old ones, in one process.

    python benchmarks/video_step_cost.py --rounds 6

Old: 2-frame tubelets and the pixel target (the papers'; the tiny recipes' defaults before issue 26);
new: the recipes' defaults now (4-frame tubelets, the motion target). Step = forward with masking and
loss + backward + AdamW step on a fixed batch of 16 x 32 x 32 one-channel clips (batch 128, as
`anymae pretrain --data moving-digits`). The rounds alternate the four models step by step
(`round_robin_step_times` of benchmarks/targets.py); each row's figure is the median over rounds of its
process CPU time a step (one thread), which other processes' load disturbs less than wall time. The ratio new/old is what the default budget's time scales by.
"""
from __future__ import annotations

import argparse

import torch
from targets import round_robin_step_times  # benchmarks/targets.py: the round-robin CPU timing of training steps

import anymae

ROWS = {
    "videomae_vit_tiny (old: tubelet 2, pixel)": ("videomae_vit_tiny", {"tubelet": 2, "target": "pixel"}),
    "videomae_vit_tiny (new defaults)": ("videomae_vit_tiny", {}),
    "videomae2_vit_tiny (old: tubelet 2, pixel)": ("videomae2_vit_tiny", {"tubelet": 2, "target": "pixel"}),
    "videomae2_vit_tiny (new defaults)": ("videomae2_vit_tiny", {}),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    clips = torch.randn(args.batch, 1, 16, 32, 32, generator=torch.Generator().manual_seed(0))
    models, optims = {}, {}
    for name, (recipe, over) in ROWS.items():
        torch.manual_seed(0)
        models[name] = anymae.create(recipe, channels=1, **over).train()
        optims[name] = torch.optim.AdamW(models[name].parameters(), lr=1e-3)
    median = round_robin_step_times(models, optims, {name: clips for name in models}, args.rounds, 1)
    print(f"| recipe | CPU s / step (median of {args.rounds}) | new / old |")
    print("|---|---|---|")
    names = list(ROWS)
    for old, new in (names[0:2], names[2:4]):
        print(f"| {old} | {median[old]:.3f} | |")
        print(f"| {new} | {median[new]:.3f} | x{median[new] / median[old]:.2f} |")


if __name__ == "__main__":
    main()
