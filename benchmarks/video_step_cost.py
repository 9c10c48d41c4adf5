"""The cost of a training step of the video laptop recipes, new defaults against the old ones, in one process.

    python benchmarks/video_step_cost.py --rounds 6

Old: 2-frame tubelets and the pixel target (the papers'; the tiny recipes' defaults before issue 26);
new: the recipes' defaults now (4-frame tubelets, the motion target). Step = forward with masking and
loss + backward + AdamW step on a fixed batch of 16 x 32 x 32 one-channel clips (batch 128, as
`anymae pretrain --data moving-digits`). The rounds alternate the four models step by step; each row's
figure is the median over rounds of its process CPU time a step (one thread), which other processes'
load disturbs less than wall time. The ratio new/old is what the default budget's time scales by.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

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
    steps = {}
    for name, (recipe, over) in ROWS.items():
        torch.manual_seed(0)
        model = anymae.create(recipe, channels=1, **over).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def step(model=model, opt=opt):
            opt.zero_grad(set_to_none=True)
            model(clips).loss.backward()
            opt.step()
        step()  # warm-up
        steps[name] = step
    times = {name: [] for name in ROWS}
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.process_time()
            step()
            times[name].append(time.process_time() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"| recipe | CPU s / step (median of {args.rounds}) | new / old |")
    print("|---|---|---|")
    names = list(ROWS)
    for old, new in (names[0:2], names[2:4]):
        print(f"| {old} | {median[old]:.3f} | |")
        print(f"| {new} | {median[new]:.3f} | x{median[new] / median[old]:.2f} |")


if __name__ == "__main__":
    main()
