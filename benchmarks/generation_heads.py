"""Negative log-likelihood of a hidden position's code, per training window, for generator runs with either
head (`maskgit_tiny --arg head=per_dimension|joint`): a per-dimension run logs the mean cross-entropy of its D
heads, so its position's NLL is D x that (the D values drawn independently); a joint run logs the position's
NLL over the V^D product codes directly. Same tokenizer, same mask-ratio schedule: the two columns compare.

    python benchmarks/generation_heads.py runs/gen-per-dim runs/gen-joint --window 500
"""
from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

from anymae.io.checkpoint import read_config


def position_nll(run: Path) -> tuple[str, list[float]]:
    """-> (the run's head, NLL per hidden position in nats at each logged step)."""
    config = read_config(run / "config.yaml")
    args = config["recipe_args"]
    head = args.get("head", "per_dimension")
    dims = 1 if head == "joint" else int(args["tokenizer_args"].get("dims", 4))
    with open(run / "metrics.csv") as f:
        return head, [float(row["cross_entropy"]) * dims for row in csv.DictReader(f)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--window", type=int, default=500, help="steps averaged per row")
    a = p.parse_args()
    curves = [(run, *position_nll(run)) for run in a.runs]
    tok = read_config(a.runs[0] / "config.yaml")["recipe_args"]["tokenizer_args"]
    print(f"NLL of a hidden position's code, nats (uniform over {tok['levels']}^{tok['dims']} codes: "
          f"{tok['dims'] * math.log(tok['levels']):.2f})")
    print("steps".ljust(14) + "".join(f"{run.name} [{head}]".rjust(34) for run, head, _ in curves))
    longest = max(len(nll) for _, _, nll in curves)
    for start in range(0, longest, a.window):
        cells = []
        for _, _, nll in curves:
            part = nll[start:start + a.window]
            cells.append(f"{sum(part) / len(part):.3f}".rjust(34) if part else "".rjust(34))
        print(f"{start}-{start + a.window}".ljust(14) + "".join(cells))


if __name__ == "__main__":
    main()
