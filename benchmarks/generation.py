"""Masked generation on built-in data, end to end, through the CLI (the commands docs/generation.md shows):
a QLAE tokenizer, a MaskGIT generator and an ENAT generator over it, sample grids, and the score tables
(generate.json in each generator run).

    python benchmarks/generation.py --data digits --out runs/gen-digits [--image-size 16] [--downsample 2]
    python benchmarks/generation.py --data shapes --out runs/gen-shapes --image-size 32 --downsample 4 \
        --tok-arg width=32 --tok-steps 800 --gen-arg dim=128 --gen-steps 3000 --no-enat --score-samplers maskgit,recap

`--quick` shrinks every step count (a smoke run of the pipeline, numbers meaningless).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def anymae(*args: str) -> None:
    cmd = [sys.executable, "-m", "anymae", *args]
    print("$ anymae " + " ".join(args), flush=True)
    start = time.time()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}  # a shared CPU: one thread
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in (result.stdout + result.stderr).splitlines() if "it/s" not in l and "s/it" not in l]
    print("\n".join(lines[-40:]), flush=True)
    print(f"({time.time() - start:.0f} s, exit {result.returncode})", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="shapes")
    p.add_argument("--out", required=True)
    p.add_argument("--image-size", type=int, default=16)
    p.add_argument("--downsample", type=int, default=2)
    p.add_argument("--guidance", default="0")
    p.add_argument("--tok-steps", type=int, help="tokenizer steps (default: the recipe's)")
    p.add_argument("--gen-steps", type=int, help="generator steps (default: the recipe's)")
    p.add_argument("--no-enat", action="store_true", help="skip the ENAT generator")
    p.add_argument("--tok-arg", action="append", default=[], help="KEY=VALUE for the tokenizer recipe (repeatable)")
    p.add_argument("--gen-arg", action="append", default=[], help="KEY=VALUE for the generator recipes (repeatable)")
    p.add_argument("--score-samplers", help="maskgit_tiny's samplers to score (default: every one it takes)")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    out = Path(a.out)
    q = a.quick
    tok, gen, enat = out / "tok", out / "maskgit", out / "enat"
    anymae("pretrain", "--recipe", "qlae_tiny", "--data", a.data, "--image-size", str(a.image_size),
           "--arg", f"downsample={a.downsample}", *[x for kv in a.tok_arg for x in ("--arg", kv)], "--out", str(tok),
           *(["--steps", "20"] if q else []),
           *(["--steps", str(a.tok_steps)] if a.tok_steps and not q else []))
    for recipe, run in (("maskgit_tiny", gen), *([] if a.no_enat else [("enat_tiny", enat)])):
        anymae("pretrain", "--recipe", recipe, "--tokenizer", str(tok), "--data", a.data, "--out", str(run),
               *[x for kv in a.gen_arg for x in ("--arg", kv)],
               *(["--steps", "20", "--arg", "dim=32"] if q else []),
               *(["--steps", str(a.gen_steps)] if a.gen_steps and not q else []))
    quick = ["--score-count", "100", "--classifier-steps", "30", "--joint-steps", "5"] if q else []
    anymae("generate", str(gen), "--steps", "8", "--guidance", a.guidance, "--out", str(out / "samples-maskgit.png"),
           "--score", "--score-steps", "4,8", *(["--score-samplers", a.score_samplers] if a.score_samplers else []),
           *quick)
    if a.no_enat:
        return
    anymae("generate", str(enat), "--steps", "8", "--sampler", "enat", "--guidance", a.guidance,
           "--out", str(out / "samples-enat.png"), "--score", "--score-steps", "4,8",
           "--score-samplers", "maskgit,enat,enat-noreuse", *quick)


if __name__ == "__main__":
    main()
