"""VideoMAE V2 dual masking vs VideoMAE tube masking: training-step time and where the FLOPs go.

For `videomae_vit_small` (tube masking, decoder on every token) and `videomae2_vit_small` (the same
model with a running-cell decoder mask: the decoder runs on the visible tokens and half the hidden
ones) at 16 x 112 x 112, this measures in one process, alternating the two so that machine load hits
both alike:

- the time of one training step (forward, backward, AdamW step), median over `--steps` steps, as
  wall-clock time and as this process's CPU time (on a shared machine the CPU time is the steadier
  measure of the work; with `--threads 1` it has no spin-waiting threads in it either);
- FLOPs of one forward + backward (torch.utils.flop_counter, attention included), split into
  tokenizer, encoder, decoder.

    python benchmarks/video.py [--batch 4] [--steps 6] [--size 112] [--frames 16] [--threads N] [--markdown docs/video.md]

Prints a markdown table; `--markdown PATH` also writes it there (docs/video.md keeps the last one).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import anymae

RECIPES = ("videomae_vit_small", "videomae2_vit_small")


def flops_by_part(model, x: torch.Tensor) -> dict[str, int]:
    """FLOPs of one forward + backward pass: total and per top-level part."""
    counter = FlopCounterMode(display=False, depth=2)
    # the CPU flash-attention kernel is not counted by the flop counter; the math kernel is (same FLOPs)
    with counter, sdpa_kernel(SDPBackend.MATH):
        out = model(x, generator=torch.Generator().manual_seed(0))
        out.loss.backward()
    model.zero_grad(set_to_none=True)
    counts = counter.get_flop_counts()
    part = {}
    for name in ("tokenizer", "encoder", "decoder"):
        key = next((k for k in counts if k.endswith(f".{name}")), None)
        part[name] = sum(counts[key].values()) if key else 0
    part["total"] = counter.get_total_flops()
    return part


def step_time(model, optimizer, x: torch.Tensor, seed: int) -> tuple[float, float]:
    """-> (wall seconds, CPU seconds) of one training step."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = model(x, generator=torch.Generator().manual_seed(seed))
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    optimizer.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4, help="clips per step")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per recipe (after 2 warm-up steps)")
    parser.add_argument("--size", type=int, default=112, help="frame side in pixels")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size)
    models = {name: anymae.create(name, frames=args.frames, image_size=args.size) for name in RECIPES}
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-4) for name, m in models.items()}
    flops = {name: flops_by_part(m, x) for name, m in models.items()}
    times = {name: [] for name in RECIPES}
    for i in range(args.steps + 2):
        for name in RECIPES if i % 2 == 0 else RECIPES[::-1]:
            t = step_time(models[name], optimizers[name], x, seed=i)
            if i >= 2:
                times[name].append(t)
    wall = {name: statistics.median(t[0] for t in v) for name, v in times.items()}
    cpu = {name: statistics.median(t[1] for t in v) for name, v in times.items()}

    tokens = models[RECIPES[0]].tokenizer.num_tokens
    lines = [f"`videomae_vit_small` vs `videomae2_vit_small`, {args.batch} clips of {args.frames} x {args.size} x "
             f"{args.size} ({tokens} tubelets, tube mask 90%; V2 decoder mask 50% running cell), CPU, "
             f"{torch.get_num_threads()} threads, median of {args.steps} training steps.",
             "",
             "| recipe | decoder tokens | step wall (s) | step CPU (s) | GFLOPs fwd+bwd | encoder share | decoder share |",
             "|---|---|---|---|---|---|---|"]
    for name in RECIPES:
        m, f = models[name], flops[name]
        mask = m.masker.sample(1, m.tokenizer.grid)
        decoded = 1 + mask.keep.shape[1] + (mask.predict.shape[1] if m.decoder.decoder_masking else mask.hidden.shape[1])
        lines.append(f"| {name} | {decoded} | {wall[name]:.3f} | {cpu[name]:.3f} | {f['total'] / 1e9:.1f} | "
                     f"{100 * f['encoder'] / f['total']:.0f}% | {100 * f['decoder'] / f['total']:.0f}% |")
    v1, v2 = RECIPES
    lines += ["",
              f"Dual masking: step CPU time x{cpu[v2] / cpu[v1]:.2f} (speed-up x{cpu[v1] / cpu[v2]:.2f}), "
              f"wall time x{wall[v2] / wall[v1]:.2f}, "
              f"FLOPs x{flops[v2]['total'] / flops[v1]['total']:.2f}, decoder FLOPs "
              f"x{flops[v2]['decoder'] / flops[v1]['decoder']:.2f}."]
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        from anymae.io.files import write_text
        command = " ".join(["python benchmarks/video.py", *sys.argv[1:]])
        write_text(args.markdown, f"# Video benchmark\n\n`{command}`\n\n{table}\n")


if __name__ == "__main__":
    main()
