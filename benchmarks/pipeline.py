"""Input-pipeline images/s (issue 23): the folder pipeline against the shard pipeline, 0 / 2 / all workers,
JPEG draft-mode decoding on and off, on a folder of real-size JPEGs cut from scikit-image's photographs.

    python benchmarks/pipeline.py --images 2000 --size 224 --out docs/pipeline.json

The folder pipeline decodes every file once into memory (at twice the model side) before the first step,
then augments from memory; the shard pipeline decodes each JPEG from its shard at every read (PIL draft
mode: at the smallest DCT scale still at least twice the model side) and augments. Both run the same
MAE augmentation (random resized crop + flip + normalise) and the same loader (`train.sampler`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--side", default="500,1000", help="JPEG sides drawn from this range, px")
    ap.add_argument("--size", type=int, default=224, help="model image size")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=12, help="timed batches per row")
    ap.add_argument("--out", default="docs/pipeline.json")
    args = ap.parse_args(argv)
    import torch
    from gpu_check import photo_folder, pipeline_rate
    from anymae.config import PretrainConfig
    from anymae.data import load_dataset, modality_of
    from anymae.data.shards import write_shards
    from anymae.spec import build_model
    torch.set_num_threads(1)
    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="pipeline-"))
    side = tuple(int(v) for v in args.side.split(","))
    t = time.time()
    folder = photo_folder(tmp / "photos", args.images, side)
    made = time.time() - t
    folder_mb = sum(p.stat().st_size for p in folder.rglob("*.jpg")) / 2**20
    t = time.time()
    report = write_shards(str(folder), tmp / "shards", shard_size_mb=64, image_size=args.size, progress=False)
    shard_s = time.time() - t
    config = PretrainConfig(recipe="mae_vit_tiny", recipe_args={"image_size": args.size, "patch_size": 16})
    model = build_model(config.model_spec(), seed=0)
    rows = []

    def measure(name, data, workers, draft=None):
        if draft is not None:
            data.draft = draft
        rate = pipeline_rate(data, args.batch, workers, args.batches)
        rows.append({"pipeline": name, "workers": workers, "images_per_s": round(rate, 1)})
        print(f"{name:<28} workers {workers}: {rate:8.1f} images/s", flush=True)

    shards = load_dataset(str(tmp / "shards"), split="all", image_size=args.size)
    config.mean, config.std = shards.stored_stats
    transform = modality_of(shards).pretrain_transform(model, config)
    shards = shards.with_transform(transform)
    for workers in sorted({0, 2, cores}):
        measure("shards (JPEG draft)", shards, workers, draft=True)
    measure("shards (full decode)", shards, 0, draft=False)
    measure("shards (full decode)", shards, cores, draft=False)
    t = time.time()
    folder_data = load_dataset(str(folder), split="all", image_size=args.size).with_transform(transform)
    folder_load = time.time() - t
    for workers in sorted({0, 2, cores}):
        measure("folder (decoded in memory)", folder_data, workers)
    result = {"images": args.images, "side_px": list(side), "jpeg_mb": round(folder_mb, 1), "model_size": args.size,
              "batch": args.batch, "cores": cores, "torch_threads": 1, "write_jpegs_s": round(made, 1),
              "shard_write_s": round(shard_s, 1), "shard_mb": round(report.bytes / 2**20, 1), "chunks": report.chunks,
              "folder_load_s": round(folder_load, 1), "rows": rows,
              "note": "shared 2-core machine under load from other jobs: figures are lower bounds"}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
