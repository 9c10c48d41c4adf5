"""Does bf16-mixed hold for the features on this CPU? Pretrain at equal steps in fp32 and bf16-mixed on two
built-in sets with two seeds each, then the linear probe and kNN of each encoder (issue 23).

    python benchmarks/cpu_bf16_probe.py --steps 150 --out docs/cpu_bf16_probe.json

A small model (mae_vit_tiny, 16 px, patch 4, width 64, 2 blocks; decoder 32 wide, 1 block) so the eight
runs fit in minutes on 2 cores; the same settings for both precisions.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
SMALL = {"image_size": 16, "patch_size": 4, "dim": 64, "depth": 2, "heads": 2, "decoder_dim": 32,
         "decoder_depth": 1, "decoder_heads": 2}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--data", default="digits,shapes")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--out", default="docs/cpu_bf16_probe.json")
    args = ap.parse_args(argv)
    import torch
    from anymae.config import PretrainConfig
    from anymae.eval.probe import probe_run
    from anymae.train.run import pretrain
    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp(prefix="bf16-probe-"))
    rows = []
    for data in args.data.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for precision in ("32-true", "bf16-mixed"):
                config = PretrainConfig.for_recipe("mae_vit_tiny", data=data, steps=args.steps, batch_size=64,
                                                   seed=seed, precision=precision, accelerator="cpu",
                                                   recipe_args=dict(SMALL))
                config.epochs = None
                run = pretrain(config, tmp / f"{data}-{seed}-{precision}", progress=False)
                results, _ = probe_run(run, seed=0, progress=False)
                ours = results[0]
                summary = json.loads(json.dumps(__import__("yaml").safe_load((run / "config.yaml").read_text())["summary"]))
                row = {"data": data, "seed": seed, "precision": precision, "linear": ours.linear, "knn": ours.knn,
                       "train_seconds": summary["train_seconds"], "steps": summary["steps"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
                Path(args.out).write_text(json.dumps({"model": SMALL, "steps": args.steps, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
