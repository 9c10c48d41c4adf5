"""docs/text.md's retrieval table: `anymae retrieve` on runs of the text recipes, also at an earlier checkpoint.

    python benchmarks/text_retrieval.py RUN [RUN ...] [--checkpoint epoch=0.ckpt] [--beir PATH]

With --checkpoint, each run's weights at that Lightning checkpoint (RUN/checkpoints/NAME) are written as a
sibling run folder RUN@NAME (config.yaml, tokenizer.json, model.safetensors) and evaluated instead: the table
then shows the encoder after that many steps. Prints one table per run (encoder, random init, BM25).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def run_at_checkpoint(run: Path, name: str) -> Path:
    import torch
    from anymae.io.checkpoint import save_weights
    out = run.with_name(f"{run.name}@{name.removesuffix('.ckpt')}")
    out.mkdir(exist_ok=True)
    ckpt = torch.load(run / "checkpoints" / name, map_location="cpu", weights_only=True)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    save_weights(state, out / "model.safetensors")
    for f in ("config.yaml", "tokenizer.json"):
        shutil.copyfile(run / f, out / f)
    print(f"{out}: weights of {name} (global step {ckpt['global_step']})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--checkpoint")
    parser.add_argument("--beir")
    args = parser.parse_args()
    from anymae.eval.retrieval import retrieve_run
    for run in map(Path, args.runs):
        if args.checkpoint:
            run = run_at_checkpoint(run, args.checkpoint)
        print(retrieve_run(run, beir=args.beir, progress=False)[1], flush=True)


if __name__ == "__main__":
    main()
