"""Choose the tiny recipe's defaults by measurement: pretrain each candidate on several built-in data
sets for the same budget and probe it against random init, raw pixels and HOG.

    python benchmarks/sweep_defaults.py --data shapes digits faces --out runs/sweep
    python benchmarks/sweep_defaults.py --only base,lr3e-3 --data shapes

Each candidate is a named set of PretrainConfig / recipe overrides; each names its recipe (mae_vit_tiny unless said).
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

# name -> (config overrides, recipe overrides); every candidate names its recipe (mae_vit_tiny unless said)
CANDIDATES: dict[str, tuple[dict, dict]] = {}


def add(name, config=None, recipe=None):
    CANDIDATES[name] = ({"recipe": "mae_vit_tiny", **(config or {})}, recipe or {})


add("mae-paper", {"warmup": 0.1})
add("base")


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
# the longer budget (3,000 steps) and the position task (MP3, row 42) that became `mae_laptop`
SMALL_64x6 = {"depth": 6, "patch_size": 8, "dim": 64, "heads": 4, "decoder_dim": 64, "decoder_depth": 2,
              "decoder_heads": 4}
add("p8-d6-3000", {"lr": 2e-3, "steps": 3000}, {"depth": 6, "patch_size": 8})
add("p8-d6-1500-lr4e-3", {"lr": 4e-3, "steps": 1500}, {"depth": 6, "patch_size": 8})
add("64x6-3000", {"lr": 2e-3, "steps": 3000}, SMALL_64x6)
add("64x6-pos-3000", {"lr": 2e-3, "steps": 3000}, {**SMALL_64x6, "position_task": 1.0})
add("64x6-pos-w3-3000", {"lr": 2e-3, "steps": 3000}, {**SMALL_64x6, "position_task": 3.0})
add("laptop", {"recipe": "mae_laptop", "lr": 2e-3, "steps": 3000})   # = 64x6-pos-3000 at mask 0.5
add("laptop-500", {"recipe": "mae_laptop", "lr": 2e-3, "steps": 500})
add("laptop-1000", {"recipe": "mae_laptop", "lr": 2e-3, "steps": 1000})
add("mp3-3000", {"recipe": "mp3_vit_tiny", "lr": 2e-3, "steps": 3000}, {"depth": 6, "patch_size": 8})
# issue 26 (features worth having): levers ranked at 1,000 steps on top of `mae_laptop`, then confirmed at its budget
L1K = {"recipe": "mae_laptop", "lr": 2e-3, "steps": 1000}
add("l1k", L1K)
add("l1k-stem", L1K, {"stem_width": 32})
add("l1k-crop50", {**L1K, "crop_scale": (0.5, 1.0)})
add("l1k-hog", {**L1K, "target": "hog"})
add("l1k-128d", L1K, {"dim": 128})
add("l1k-p4", L1K, {"patch_size": 4})
add("l1k-inv", L1K, {"invariance": 1.0})
add("l1k-jit", {**L1K, "colour_jitter": 0.4})
# the new default: mae_laptop with its colour augmentation (now in its train defaults), 3,000 steps
add("laptop-jit", {"recipe": "mae_laptop", "lr": 2e-3, "steps": 3000, "colour_jitter": 0.4})
add("mp3-1k", {**L1K, "recipe": "mp3_vit_tiny"}, {"depth": 6, "patch_size": 8, "dim": 64, "heads": 4})
# issue 26, second pass: the levers not yet measured, each on top of the committed default (colour jitter on),
# 1,000 steps on `shapes`, read as `grid` and `mean`
J1K = {**L1K, "colour_jitter": 0.4}
add("j1k", J1K)
add("j1k-p4", J1K, {"patch_size": 4})                              # 64 tokens: 4x the tokens per step
add("mp3-j1k", {**J1K, "recipe": "mp3_vit_tiny"})                  # the position task alone (no pixel decoder)
add("j1k-hog1", J1K, {"hog_weight": 1.0})                         # pixels + HOG of each hidden patch
add("j1k-posonly", J1K, {"pixel_grad": False})                    # position task trains the encoder; pixels the pictures
# confirmed at the default's budget on every set: the encoder trained by the position task alone, with colour jitter
add("posonly-jit", {"recipe": "mae_laptop", "lr": 2e-3, "steps": 3000, "colour_jitter": 0.4}, {"pixel_grad": False})


def run_one(name: str, data: str, epochs: int | None, out: Path, batch: int, pools: list[str],
            seed: int = 0) -> list[dict]:
    cfg_over, recipe_over = CANDIDATES[name]
    config = PretrainConfig(data=data, epochs=epochs, batch_size=batch, seed=seed)
    for k, v in cfg_over.items():
        setattr(config, k, v)
    config.recipe_args = dict(recipe_over)
    run_dir = out / (f"{name}-{data}" + (f"-s{seed}" if seed else ""))
    start = time.time()
    pretrain(config, run_dir, progress=False, overwrite=True)
    seconds = time.time() - start
    rows = []
    for pool in pools:
        results, table = probe_run(run_dir, pool=pool, progress=False)
        print(f"\n[{name} on {data}, {epochs} epochs, {seconds:.0f} s]\n{table}", flush=True)
        rows.append({"candidate": name, "data": data, "epochs": epochs, "pool": pool, "seed": seed,
                     "train_seconds": round(seconds, 1),
                     **{r.name.split(" [")[0]: {"linear": r.linear, "knn": r.knn} for r in results}})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=["shapes", "digits", "faces"])
    p.add_argument("--only", help="comma-separated candidate names (default: all)")
    p.add_argument("--epochs", type=int, default=None, help="default: the candidate's step budget (300 steps unless it says)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--pools", default="mean,mean-last4,cls")
    p.add_argument("--out", default="runs/sweep")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else list(CANDIDATES)
    for name in names:
        for data in args.data:
            epochs = args.epochs
            batch = min(args.batch_size, 64) if data == "faces" else args.batch_size
            for row in run_one(name, data, epochs, out, batch, args.pools.split(","), args.seed):
                with open(out / "results.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
