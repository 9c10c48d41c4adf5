"""Masked generation II (continuous tokens) on built-in data, end to end through the CLI (the commands
docs/generation.md shows): MAR, UMD, Harmon over patch pixels, LMD over a KL tokenizer run, a pixel-MAE for
the probe comparison; sample grids, score tables (generate.json) and probes (probe.json) in each run.

    python benchmarks/generation_continuous.py --data digits --out runs/gen2-digits [--steps 1000]
    python benchmarks/generation_continuous.py --data shapes --image-size 16 --patch-size 4 --out runs/gen2-shapes

`--only mar,umd` runs a subset; a run folder that already holds a trained model is not trained again (its
samples and score are made again); `--quick` shrinks every step count (a smoke run, numbers meaningless).
The pixel MAE has the width and depth of `umd_tiny`'s encoder (64-d x 3, decoder 64-d x 1) and the same steps.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from generation import anymae  # benchmarks/generation.py: run one CLI command, print its tail and duration


def pretrain(run: Path, *args: str) -> None:
    if (run / "model.safetensors").exists() or (run / "encoder.safetensors").exists():
        print(f"{run}: trained already, kept", flush=True)
        return
    anymae("pretrain", *args, "--out", str(run))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="digits")
    p.add_argument("--out", required=True)
    p.add_argument("--image-size", type=int, default=8)
    p.add_argument("--patch-size", type=int, default=2)
    p.add_argument("--steps", type=int, default=1000, help="training steps of every model")
    p.add_argument("--only", default="mar,umd,harmon,mae,lmd")
    p.add_argument("--lmd-steps", type=int, help="training steps of the KL tokenizer and LMD (default --steps)")
    p.add_argument("--score-steps", default="4,8", help="mar / harmon / lmd sampler steps to score (umd: 25,50)")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    out, only = Path(a.out), a.only.split(",")
    steps = ["--steps", "20" if a.quick else str(a.steps)]
    size = ["--image-size", str(a.image_size), "--patch-size", str(a.patch_size)]
    quick = ["--score-count", "100", "--classifier-steps", "30"] if a.quick else []
    for name in ("mar", "umd", "harmon"):
        if name not in only:
            continue
        run = out / name
        pretrain(run, "--recipe", f"{name}_tiny", "--data", a.data, *size, *steps)
        score_steps = "25,50" if name == "umd" else a.score_steps
        anymae("generate", str(run), "--out", str(out / f"samples-{name}-{time.strftime('%H%M%S')}.png"), "--score",
               "--score-steps", score_steps, "--probe", *quick)
    if "mae" in only:   # pixel MAE at the same size and steps: the representation-only reference
        pretrain(out / "mae", "--recipe", "mae_vit_tiny", "--data", a.data, *size, *steps, "--batch-size", "64",
                 "--arg", "dim=64", "--arg", "depth=3", "--arg", "heads=4", "--arg", "decoder_dim=64",
                 "--arg", "decoder_depth=1")
        anymae("probe", str(out / "mae"))
    if "lmd" in only:
        lmd_steps = ["--steps", str(a.lmd_steps)] if a.lmd_steps and not a.quick else steps
        pretrain(out / "kl", "--recipe", "klae_tiny", "--data", a.data, "--image-size", str(a.image_size), *lmd_steps)
        pretrain(out / "lmd", "--recipe", "lmd_tiny", "--tokenizer", str(out / "kl"), "--data", a.data, *lmd_steps)
        anymae("generate", str(out / "lmd"), "--out", str(out / f"samples-lmd-{time.strftime('%H%M%S')}.png"),
               "--score", "--score-steps", a.score_steps, *quick)


if __name__ == "__main__":
    main()
