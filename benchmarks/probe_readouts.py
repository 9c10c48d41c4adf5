"""Which spatial reading of the final token grid should the probe take? Each finished run is read several
ways, the pretrained encoder and the same architecture at random init alike (issue 26: one reading chosen
for all data sets). Probe as `anymae probe`: logistic regression with C picked on 20% of train, kNN-20.

    python benchmarks/probe_readouts.py RUN [RUN ...] [--random-init]

Readings of the final-normed tokens [B,N,D] as a side x side grid: `grid` (2x2 cells, the mean of each
quarter), `grid3` (3x3 overlapping windows), `pyramid` (mean + grid + grid3), `grid3+mean`, `grid3+max`
(3x3 average and max pooling), `tokens` (every token), `grid+mean`.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from anymae.eval.probe import evaluate
from anymae.io.checkpoint import build_untrained
from probe_pools import probe_run  # benchmarks/probe_pools.py: a run and its probe splits


@torch.no_grad()
def final_tokens(model, dataset) -> torch.Tensor:
    """[M,N,D]: every sample's final-normed tokens, prefix tokens dropped."""
    model.eval()
    return torch.cat([model.encode(x)[:, model.encoder.num_prefix:] for x, _, _ in DataLoader(dataset, batch_size=256)])


def readings(tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """tokens [M,N,D] (N a square) -> {reading: [M,F]}."""
    m, n, d = tokens.shape
    side = int(round(n ** 0.5))
    grid = tokens.reshape(m, side, side, d).permute(0, 3, 1, 2)

    def avg(k):
        return F.adaptive_avg_pool2d(grid, k).flatten(1)

    return {"grid": avg(2), "grid3": avg(3), "pyramid": torch.cat([avg(1), avg(2), avg(3)], 1),
            "grid3+mean": torch.cat([avg(1), avg(3)], 1),
            "grid3+max": torch.cat([avg(3), F.adaptive_max_pool2d(grid, 3).flatten(1)], 1),
            "tokens": avg(side), "grid+mean": torch.cat([avg(1), avg(2)], 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--random-init", action="store_true", help="read the random init too (it is the same for runs "
                   "of one architecture and data set: read it once)")
    args = p.parse_args()
    for run in args.runs:
        model, raw, _, train, test, ys = probe_run(run)
        encoders = [("pretrained", model)] + ([("random init", build_untrained(raw, seed=0))] if args.random_init else [])
        for who, encoder in encoders:
            a, b = readings(final_tokens(encoder, train)), readings(final_tokens(encoder, test))
            for name in a:
                r = evaluate(name, a[name].numpy(), ys[0], b[name].numpy(), ys[1])
                print(f"{run:40s} {who:12s} {name:11s} {r.dim:5d}  {100 * r.linear:5.1f} / {100 * r.knn:5.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
