"""Which tokens and blocks should the probe read? Probe finished runs under several poolings, each given to
the pretrained encoder and to the same architecture at random init alike (issue 26: chosen once for all
data sets, never per data set).

    python benchmarks/probe_pools.py RUN [RUN ...] --pools mean,mean-last4,grid --out runs/pools.jsonl
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from anymae.config import PretrainConfig
from anymae.eval.features import encoder_features
from anymae.eval.probe import evaluate, probe_splits
from anymae.io.checkpoint import build_untrained, load_run


def probe_run(run: str, data: str | None = None):
    """A run folder -> (model, its raw config, the probe data's name, train split, test split, their labels)."""
    model, raw = load_run(run)
    config = PretrainConfig.from_dict(raw)
    spec = data or config.data
    _, train, test = probe_splits(config, model, spec)
    return model, raw, spec, train, test, (train.labels.numpy(), test.labels.numpy())


def probe_both(features: dict, ys: tuple) -> dict:
    """{"pretrained" | "random init": (train [M,F], test [N,F])}, (train labels, test labels) -> each reading's
    linear / kNN accuracy and dimension, as `evaluate` gives them."""
    row = {}
    for name, (tr, te) in features.items():
        r = evaluate(name, tr, ys[0], te, ys[1])
        row[name] = {"linear": round(r.linear, 4), "knn": round(r.knn, 4), "dim": r.dim}
    return row


def report(row: dict, label: str, out: str | None) -> None:
    """Print one row (pretrained and random init, linear / kNN) and append it to the JSON lines file `out`."""
    print(f"{label}   pretrained {100 * row['pretrained']['linear']:5.1f} / {100 * row['pretrained']['knn']:5.1f}   "
          f"random init {100 * row['random init']['linear']:5.1f} / {100 * row['random init']['knn']:5.1f}   "
          f"dim {row['pretrained']['dim']}", flush=True)
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--pools", default="mean,mean-last4")
    p.add_argument("--data", default=None, help="probe data (default: each run's)")
    p.add_argument("--out", default=None, help="append one JSON line per run and pool here")
    args = p.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    for run in args.runs:
        model, raw, spec, train, test, ys = probe_run(run, args.data)
        random_model = build_untrained(raw, seed=0)
        for pool in args.pools.split(","):
            row = {"run": str(run), "data": spec, "pool": pool}
            row.update(probe_both({name: (encoder_features(m, train, pool), encoder_features(m, test, pool))
                                   for name, m in (("pretrained", model), ("random init", random_model))}, ys))
            report(row, f"{Path(run).name:30s} {spec:10s} {pool:12s}", args.out)

if __name__ == "__main__":
    main()
