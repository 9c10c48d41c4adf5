"""Issue 26's full-budget lever sweep, many runs at once: each job (candidate, data set, seed) pretrains in its
own process (one CPU thread each; the model on the GPU when there is one) and is probed like `anymae probe`
(logistic regression with C picked on 20% of train, kNN-20) under several readings, the same architecture at
random init read the same way. Results: one JSON line per job in OUT/results.jsonl, printed as they come.

    python benchmarks/sweep_parallel.py --jobs def:shapes:0,def:shapes:1,lr4:shapes:0 --until 400 --out /tmp/r
    python benchmarks/sweep_parallel.py --list

`--until S`: jobs still training after S seconds are stopped (their metrics.csv stays). On a GPU the runs train
in 32-bit like the CPU runs (`precision="32-true"`). Step costs on 2 CPU cores: benchmarks/step_cost_defaults.py.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# name -> (PretrainConfig overrides, recipe overrides); each on top of `mae_laptop`'s own training defaults
# (3,000 steps, lr 2e-3 at batch 128, colour jitter 0.4): one lever changed at a time
CANDIDATES: dict[str, tuple[dict, dict]] = {
    "def": ({}, {}),                                                    # the default, as `anymae pretrain` runs it
    "lr4": ({"lr": 4e-3}, {}),                                          # twice the learning rate
    "lr1": ({"lr": 1e-3}, {}),                                          # half the learning rate
    "b64": ({"batch_size": 64, "steps": 6000}, {}),                     # twice the steps at half the batch
    "stem": ({}, {"stem_width": 16}),                                   # per-patch CNN tokenizer (SCOTT-like)
    "dp1": ({}, {"drop_path": 0.1}),                                    # stochastic depth
    "po": ({}, {"pixel_grad": False}),                                  # position task trains the encoder
    # the position task trains the encoder, a light 32-d x 1 decoder learns the pictures from detached latents:
    # 0.80 of the default's step cost (benchmarks/step_cost_defaults.py), so 3,750 steps in the same time
    "po32": ({"steps": 3750}, {"pixel_grad": False, "decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2}),
    "po45": ({"steps": 4500}, {"pixel_grad": False, "decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2}),
    "mp3": ({"recipe": "mp3_vit_tiny"}, {}),                            # MP3 alone (no pixel decoder)
    "mp45": ({"recipe": "mp3_vit_tiny", "steps": 4500}, {}),
    "6k": ({"steps": 6000}, {}),                                        # past the budget: the curve
    "12k": ({"steps": 12000}, {}),
    "s20k": ({"data": "shapes:20000"}, {}),                             # 10x the pretraining images
    "p4": ({}, {"patch_size": 4, "dim": 32, "heads": 2}),               # 64 tokens, narrower
    "w96": ({}, {"dim": 96, "heads": 4}),                               # wider encoder
    "m75": ({}, {"mask_ratio": 0.75}),
    "pos2": ({}, {"position_task": 2.0}),
    # overlapping 3x3 convolutions that never read a hidden patch, added to the patch embedding
    # (encoders/stem_vit.py); 1.2x the default's step cost
    "sst16": ({}, {"sparse_stem": 16}),
    "dec4": ({}, {"decoder_depth": 4}),                                 # deeper decoder (MAE's Table 1a: linear up)
    "inv1": ({}, {"invariance": 1.0}),                                  # SDMAE's view-invariance term (InfoNCE)
    "smoke": ({"steps": 4}, {}),                                        # a quick check that the script runs
}
READINGS = ("grid", "mean", "grid3")


def features(model, dataset, reading: str):
    """Frozen features [M,F]; `grid3`: the final-normed token grid average-pooled to 3x3 windows (overlapping
    2x2-token windows on a 4x4 grid, as HOG's blocks overlap), concatenated."""
    from anymae.eval.features import encoder_features
    if reading != "grid3":
        return encoder_features(model, dataset, reading)
    from torch.utils.data import DataLoader
    out = []
    with torch.no_grad():
        for x, _, _ in DataLoader(dataset, batch_size=256):
            z = model.encode(x.to(next(model.parameters()).device))[:, model.encoder.num_prefix:]
            side = int(z.shape[1] ** 0.5)
            grid = z.reshape(z.shape[0], side, side, -1).permute(0, 3, 1, 2)
            out.append(F.adaptive_avg_pool2d(grid, 3).flatten(1).cpu())
    return torch.cat(out).numpy()


def one_job(name: str, data: str, seed: int, out: Path, steps_scale: float = 1.0) -> dict:
    from anymae.config import PretrainConfig
    from anymae.eval.probe import evaluate, probe_splits
    from anymae.io.checkpoint import build_untrained, load_run
    from anymae.train.run import pretrain
    torch.set_num_threads(1)
    config_over, recipe_over = CANDIDATES[name]
    config_over = dict(config_over)
    recipe = config_over.pop("recipe", "mae_laptop")
    pretrain_data = config_over.pop("data", data)
    settings = {"lr": 2e-3, "colour_jitter": 0.4, "steps": 3000, "features": "grid",
                "batch_size": 64 if data == "faces" else 128, "precision": "32-true", **config_over}
    config = PretrainConfig.for_recipe(recipe, data=pretrain_data, seed=seed, **settings)
    config.recipe_args = dict(recipe_over)
    config.steps = round(config.steps * steps_scale)
    run = out / (f"{name}-{data}-s{seed}" + (f"-x{steps_scale:g}" if steps_scale != 1 else ""))
    start = time.time()
    pretrain(config, run, progress=False, overwrite=True)
    row = {"candidate": name, "data": data, "seed": seed, "pretrain_data": pretrain_data, "steps": config.steps, "batch": config.batch_size,
           "train_seconds": round(time.time() - start, 1)}
    model, raw = load_run(run)
    _, train, test = probe_splits(PretrainConfig.from_dict(raw), model, data)
    ys = train.labels.numpy(), test.labels.numpy()
    readers = [("pretrained", model)] + ([("random init", build_untrained(raw, seed=0))] if seed == 0 else [])
    for who, m in readers:      # random init does not depend on the pretraining seed: read once, at seed 0
        for reading in READINGS:
            r = evaluate(who, features(m, train, reading), ys[0], features(m, test, reading), ys[1])
            row[f"{who} [{reading}]"] = [round(100 * r.linear, 1), round(100 * r.knn, 1)]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", default="", help="comma-separated CANDIDATE:DATA:SEED")
    p.add_argument("--out", default="runs/sweep_parallel")
    p.add_argument("--until", type=float, default=0, help="stop jobs still running after this many seconds (0: never)")
    p.add_argument("--steps-scale", type=float, default=1.0, help="each candidate's steps times this (1/3: the ranking)")
    p.add_argument("--one", help=argparse.SUPPRESS)   # CANDIDATE:DATA:SEED, run in this process
    p.add_argument("--list", action="store_true", help="print the candidates and exit")
    args = p.parse_args()
    out = Path(args.out)
    if args.list:
        for name, (c, r) in CANDIDATES.items():
            print(f"{name:6s} config {c} recipe {r}")
        return
    if args.one:
        name, data, seed = args.one.split(":")
        row = one_job(name, data, int(seed), out, args.steps_scale)
        with open(out / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    jobs = [j for j in args.jobs.split(",") if j]
    for job in jobs:
        name, data, seed = job.split(":")
        if name not in CANDIDATES:
            raise SystemExit(f"--jobs: unknown candidate {name!r} (see --list)")
    procs = {}
    for job in jobs:
        log = open(out / f"{job.replace(':', '-')}.log", "w")
        procs[job] = subprocess.Popen([sys.executable, __file__, "--one", job, "--out", str(out),
                                       "--steps-scale", str(args.steps_scale)],
                                      stdout=log, stderr=subprocess.STDOUT,
                                      env={**__import__("os").environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    start = time.time()
    while any(pr.poll() is None for pr in procs.values()):
        if args.until and time.time() - start > args.until:
            for job, pr in procs.items():
                if pr.poll() is None:
                    print(f"{job}: stopped at {args.until:.0f} s", flush=True)
                    pr.kill()
            break
        time.sleep(2)
    for job, pr in procs.items():
        print(f"{job}: exit {pr.wait()}", flush=True)
    if (out / "results.jsonl").is_file():
        print((out / "results.jsonl").read_text(), flush=True)


if __name__ == "__main__":
    main()
