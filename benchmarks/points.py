"""Cost per batch of Point-MAE's grouping and Chamfer loss at 1,024 points, batch 32 (PAPERS.md row 10).

Each row is timed in this process against its peers (same data, same threads), so the ratios hold
on any machine even when the absolute times do not. Prints a markdown table (docs/points.md).

    PYTHONPATH=src python benchmarks/points.py [--batch 32] [--points 1024] [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from anymae.losses.chamfer import MAX_PAIRS, chamfer_distance
from anymae.tokenizers.points import farthest_point_sample, knn_indices


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median (CPU time, wall time) of `fn()` in milliseconds, after one warm-up call.

    CPU time is this process's own; on a shared machine it is the stable figure (wall time also
    counts waiting for a core).
    """
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return 1000 * statistics.median(cpu), 1000 * statistics.median(wall)


def fps_per_cloud(points: torch.Tensor, count: int) -> torch.Tensor:
    """Peer: the same algorithm run one cloud at a time (a Python loop over the batch)."""
    return torch.cat([farthest_point_sample(p[None], count) for p in points])


def chamfer_brute(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peer: every difference at once, a [B,N,M,3] tensor."""
    d = (a[:, :, None] - b[:, None]).pow(2).sum(-1)
    return d.min(2).values.mean(1) + d.min(1).values.mean(1)


def chamfer_cdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peer: torch.cdist, one [B,N,M] block, squared afterwards."""
    d = torch.cdist(a, b).pow(2)
    return d.min(2).values.mean(1) + d.min(1).values.mean(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--groups", type=int, default=64)
    parser.add_argument("--group-size", type=int, default=32)
    parser.add_argument("--mask-ratio", type=float, default=0.6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: robust on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    b, n, g, k = args.batch, args.points, args.groups, args.group_size
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, n, 3, generator=gen)
    y = torch.randn(b, n, 3, generator=gen)
    hidden = g - max(1, round(g * (1 - args.mask_ratio)))
    pred = torch.randn(b * hidden, k, 3, generator=gen) * 0.1
    target = torch.randn(b * hidden, k, 3, generator=gen) * 0.1
    centres = x[:, :g]
    assert torch.equal(fps_per_cloud(x, g), farthest_point_sample(x, g))
    assert torch.allclose(chamfer_distance(x, y), chamfer_brute(x, y), atol=1e-4)

    # (family, operation, size, function, largest tensor); ratios are against the family's first row
    rows = [
        ("fps", "FPS, batched (anymae)", f"{g} of {n}", lambda: farthest_point_sample(x, g), "[B,N]"),
        ("fps", "FPS, one cloud at a time", f"{g} of {n}", lambda: fps_per_cloud(x, g), "[1,N]"),
        ("fps", "random subset (no FPS; a floor)", f"{g} of {n}", lambda: torch.rand(b, n).argsort(1)[:, :g],
         "[B,N]"),
        ("knn", "kNN grouping (anymae: exact cdist + topk)", f"{g} x {k}", lambda: knn_indices(centres, x, k),
         "[B,G,N]"),
        ("cloud", "Chamfer, cloud vs cloud, chunked (anymae)", f"{n} vs {n}", lambda: chamfer_distance(x, y),
         f"[B,{min(n, MAX_PAIRS // (b * n))},N]"),
        ("cloud", "Chamfer, cloud vs cloud, torch.cdist", f"{n} vs {n}", lambda: chamfer_cdist(x, y), "[B,N,N]"),
        ("cloud", "Chamfer, cloud vs cloud, all differences", f"{n} vs {n}", lambda: chamfer_brute(x, y),
         "[B,N,N,3]"),
        ("loss", "Chamfer loss on hidden groups (anymae, training)", f"{b}x{hidden} groups of {k}",
         lambda: chamfer_distance(pred, target), f"[B*{hidden},{k},{k}]"),
        ("loss", "same, all differences", f"{b}x{hidden} groups of {k}", lambda: chamfer_brute(pred, target),
         f"[B*{hidden},{k},{k},3]"),
    ]
    print(f"batch {b}, {n} points, {torch.get_num_threads()} thread(s), median of {args.repeats}\n")
    print("| operation | size | CPU ms / batch | wall ms / batch | x anymae (CPU) | largest tensor |")
    print("|---|---|---:|---:|---:|---|")
    reference = {}
    for family, name, size, fn, block in rows:
        ms, wall = timed(fn, args.repeats)
        reference.setdefault(family, ms)
        print(f"| {name} | {size} | {ms:.1f} | {wall:.1f} | {ms / reference[family]:.2f} | {block} |", flush=True)
    # the backward pass of the training loss
    p = pred.clone().requires_grad_()

    def loss_backward():
        chamfer_distance(p, target).mean().backward()
    ms, wall = timed(loss_backward, args.repeats)
    print(f"| Chamfer loss on hidden groups, forward + backward | {b}x{hidden} groups of {k} | {ms:.1f} | "
          f"{wall:.1f} | | |")


if __name__ == "__main__":
    main()
