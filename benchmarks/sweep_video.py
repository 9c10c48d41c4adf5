"""Choose the video laptop recipes' defaults by measurement (issue 26): pretrain each candidate on
`moving-digits` and probe it against the same architecture at random init.

    python benchmarks/sweep_video.py --only v1-base,v1-lr3e-3 --steps 180 --out runs/sweep_video
    python benchmarks/sweep_video.py --only v1-default,v2-default --seed 1 --full --out runs/video_final

Each candidate is a recipe with PretrainConfig / recipe overrides. The ranking probe (default) reads the
encoder and its random init (cached per architecture and seed) with the pools given, linear (logistic
regression, C picked on 20% of train) and kNN-20 cosine, exactly as `anymae probe`; `--full` runs
`anymae probe RUN` itself instead (baselines included: raw pixels, frame-difference HOG).
Results are appended to OUT/results.jsonl, one line per candidate x pool.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from anymae.config import PretrainConfig
from anymae.eval.features import encoder_features
from anymae.eval.probe import evaluate, probe_run, probe_splits
from anymae.io.checkpoint import build_untrained, load_run
from anymae.train.run import pretrain

CANDIDATES: dict[str, tuple[dict, dict]] = {}


def add(name: str, recipe: str, config: dict | None = None, args: dict | None = None) -> None:
    CANDIDATES[name] = ({"recipe": recipe, **(config or {})}, args or {})


# the defaults before issue 26 (blr 1.5e-4 at batch 128 = lr 7.5e-5, pixel target, tube 90%)
OLD = {"blr": 1.5e-4, "warmup": 0.1}
add("v1-old", "videomae_vit_tiny", OLD, {"target": "pixel", "mask_ratio": 0.9})
add("v1-lr3e-3", "videomae_vit_tiny", {"lr": 3e-3}, {"target": "pixel", "mask_ratio": 0.9})
add("v1-motion", "videomae_vit_tiny", {"lr": 3e-3}, {"target": "motion", "mask_ratio": 0.9})
add("v1-motion-only", "videomae_vit_tiny", {"lr": 3e-3}, {"target": "motion-only", "mask_ratio": 0.9})
add("v1-t4", "videomae_vit_tiny", {"lr": 3e-3}, {"target": "pixel", "mask_ratio": 0.9, "tubelet": 4})
add("v1-t4-motion", "videomae_vit_tiny", {"lr": 3e-3}, {"target": "motion", "mask_ratio": 0.9, "tubelet": 4})
add("v1-motion-m75", "videomae_vit_tiny", {"lr": 3e-3}, {"target": "motion", "mask_ratio": 0.75})
add("v1-stride2", "videomae_vit_tiny", {"lr": 3e-3}, {"target": "pixel", "mask_ratio": 0.9, "frame_stride": 2})
RANDOM90 = {"masker": "random"}   # frame-wise random masking at the recipe's ratio (90%) instead of tubes
add("v1-random", "videomae_vit_tiny", {"lr": 3e-3, **RANDOM90}, {"target": "pixel"})
add("v1-random-motion", "videomae_vit_tiny", {"lr": 3e-3, **RANDOM90}, {"target": "motion"})
add("v1-t4-random-motion", "videomae_vit_tiny", {"lr": 3e-3, **RANDOM90}, {"target": "motion", "tubelet": 4})
add("v1-t4-motion-m50", "videomae_vit_tiny", {"lr": 3e-3}, {"target": "motion", "mask_ratio": 0.5, "tubelet": 4})
add("v1-default", "videomae_vit_tiny")   # whatever the recipe's defaults are now
add("v2-old", "videomae2_vit_tiny", OLD, {"target": "pixel", "mask_ratio": 0.9})
add("v2-default", "videomae2_vit_tiny")


def architecture_key(config: PretrainConfig) -> str:
    """What random init depends on: the recipe and its arguments that shape the encoder."""
    shape = {k: v for k, v in config.recipe_args.items() if k not in ("target", "mask_ratio", "decoder_ratio")}
    return json.dumps([config.recipe.replace("videomae2", "videomae"), shape, config.seed], sort_keys=True)


def features_of(model, config, pool):
    _, train, test = probe_splits(config, model, config.data)
    return (encoder_features(model, train, pool), train.labels.numpy(),
            encoder_features(model, test, pool), test.labels.numpy())


def quick_probe(run_dir: Path, pools: list[str], cache: dict) -> dict:
    """{pool: {"encoder": (linear, knn), "random init": (linear, knn)}}; random init cached per architecture."""
    model, raw = load_run(run_dir)
    config = PretrainConfig.from_dict(raw)
    out = {}
    for pool in pools:
        enc = evaluate("encoder", *features_of(model, config, pool))
        key = (architecture_key(config), pool)
        if key not in cache:
            cache[key] = evaluate("random", *features_of(build_untrained(raw, seed=0), config, pool))
        rnd = cache[key]
        out[pool] = {"encoder": [enc.linear, enc.knn], "random init": [rnd.linear, rnd.knn]}
    return out


def run_one(name: str, steps: int | None, seed: int, out: Path, pools: list[str], full: bool, cache: dict) -> dict:
    cfg_over, recipe_over = CANDIDATES[name]
    config = PretrainConfig.for_recipe(cfg_over["recipe"], data="moving-digits", seed=seed)
    for k, v in cfg_over.items():
        setattr(config, k, v)
    if steps:
        config.steps, config.epochs = steps, None
    config.recipe_args = dict(recipe_over)
    run_dir = out / (f"{name}-{steps or 'default'}" + (f"-s{seed}" if seed else ""))
    start = time.time()
    pretrain(config, run_dir, progress=False, overwrite=True)
    seconds = time.time() - start
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
    row = {"candidate": name, "steps": summary.get("steps", steps), "seed": seed, "train_seconds": round(seconds, 1),
           "cpu_seconds": round(time.process_time(), 1)}
    if full:
        for pool in pools:
            results, table = probe_run(run_dir, pool=pool, progress=False)
            print(f"\n[{name}, seed {seed}, {seconds:.0f} s]\n{table}", flush=True)
            row[pool] = {r.name.split(" [")[0]: [r.linear, r.knn] for r in results}
    else:
        row.update(quick_probe(run_dir, pools, cache))
        print(json.dumps(row), flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", required=True, help="comma-separated candidate names: " + ",".join(CANDIDATES))
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the recipe's budget)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pools", default="mean,mean-last4")
    p.add_argument("--full", action="store_true", help="probe with `anymae probe` (baselines included)")
    p.add_argument("--out", default="runs/sweep_video")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache: dict = {}
    for name in args.only.split(","):
        row = run_one(name, args.steps, args.seed, out, args.pools.split(","), args.full, cache)
        with open(out / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
