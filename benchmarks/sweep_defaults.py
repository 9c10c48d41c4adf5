"""Choose the tiny recipe's defaults by measurement: pretrain each candidate on several built-in data
sets for the same budget and probe it against random init, raw pixels and HOG.

    python benchmarks/sweep_defaults.py --data shapes digits faces --out runs/sweep
    python benchmarks/sweep_defaults.py --only base,lr3e-3 --data shapes

Each candidate is a named set of overrides of the default PretrainConfig / recipe arguments.
Results are appended to OUT/results.jsonl (one line per candidate x data set) and printed as a table.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from anymae.eval.probe import probe_run
from anymae.train.config import PretrainConfig
from anymae.train.run import pretrain

# name -> (config overrides, recipe overrides)
CANDIDATES: dict[str, tuple[dict, dict]] = {
    "mae-paper": ({"blr": 1.5e-4, "warmup": 0.1}, {}),
    "base": ({}, {}),
}


def add(name, config=None, recipe=None):
    CANDIDATES[name] = (config or {}, recipe or {})


add("blr1e-3", {"blr": 1e-3})
add("blr3e-3", {"blr": 3e-3})
add("d6", {"blr": 1e-3}, {"depth": 6})
add("d6-m50", {"blr": 1e-3}, {"depth": 6, "mask_ratio": 0.5})
add("d6-raw", {"blr": 1e-3}, {"depth": 6, "norm_pix": False})
add("d6-dec2", {"blr": 1e-3}, {"depth": 6, "decoder_depth": 2})
add("lr2e-3-d6", {"lr": 2e-3}, {"depth": 6})
add("p8-d6", {"lr": 2e-3}, {"depth": 6, "patch_size": 8})
add("p8-d6-m50", {"lr": 2e-3}, {"depth": 6, "patch_size": 8, "mask_ratio": 0.5})
add("p8-d6-1000", {"lr": 2e-3, "steps": 1000}, {"depth": 6, "patch_size": 8})
add("p8-d6-hog", {"lr": 2e-3, "target": "hog"}, {"depth": 6, "patch_size": 8})
add("p8-d6-stem", {"lr": 2e-3}, {"depth": 6, "patch_size": 8, "stem_width": 32})
add("p8-d6-inv", {"lr": 2e-3}, {"depth": 6, "patch_size": 8, "invariance": 1.0})


def run_one(name: str, data: str, epochs: int | None, out: Path, batch: int, pools: list[str]) -> list[dict]:
    cfg_over, recipe_over = CANDIDATES[name]
    config = PretrainConfig(data=data, epochs=epochs, batch_size=batch, seed=0)
    for k, v in cfg_over.items():
        setattr(config, k, v)
    config.recipe_args = dict(recipe_over)
    run_dir = out / f"{name}-{data}"
    start = time.time()
    pretrain(config, run_dir, progress=False)
    seconds = time.time() - start
    rows = []
    for pool in pools:
        results, table = probe_run(run_dir, pool=pool, progress=False)
        print(f"\n[{name} on {data}, {epochs} epochs, {seconds:.0f} s]\n{table}", flush=True)
        rows.append({"candidate": name, "data": data, "epochs": epochs, "pool": pool,
                     "train_seconds": round(seconds, 1),
                     **{r.name.split(" [")[0]: {"linear": r.linear, "knn": r.knn} for r in results}})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=["shapes", "digits", "faces"])
    p.add_argument("--only", help="comma-separated candidate names (default: all)")
    p.add_argument("--epochs", type=int, default=None, help="default: the config's step budget (300 steps)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--pools", default="mean,mean-last4,cls")
    p.add_argument("--out", default="runs/sweep")
    args = p.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else list(CANDIDATES)
    for name in names:
        for data in args.data:
            epochs = args.epochs
            batch = min(args.batch_size, 64) if data == "faces" else args.batch_size
            for row in run_one(name, data, epochs, out, batch, args.pools.split(",")):
                with open(out / "results.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
