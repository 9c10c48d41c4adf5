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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--pools", default="mean,mean-last4")
    p.add_argument("--data", default=None, help="probe data (default: each run's)")
    p.add_argument("--out", default=None, help="append one JSON line per run and pool here")
    args = p.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    for run in args.runs:
        model, raw = load_run(run)
        config = PretrainConfig.from_dict(raw)
        spec = args.data or config.data
        _, train, test = probe_splits(config, model, spec)
        ys = train.labels.numpy(), test.labels.numpy()
        random_model = build_untrained(raw, seed=0)
        for pool in args.pools.split(","):
            row = {"run": str(run), "data": spec, "pool": pool}
            for name, m in (("pretrained", model), ("random init", random_model)):
                tr, te = encoder_features(m, train, pool), encoder_features(m, test, pool)
                r = evaluate(name, tr, ys[0], te, ys[1])
                row[name] = {"linear": round(r.linear, 4), "knn": round(r.knn, 4), "dim": r.dim}
            print(f"{Path(run).name:30s} {spec:10s} {pool:12s} pretrained {100 * row['pretrained']['linear']:5.1f} / "
                  f"{100 * row['pretrained']['knn']:5.1f}   random init {100 * row['random init']['linear']:5.1f} / "
                  f"{100 * row['random init']['knn']:5.1f}   dim {row['pretrained']['dim']}", flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
