"""`anymae shard`: write a folder or a built-in data set as streaming shards (litdata format, docs/scaling.md)."""
from __future__ import annotations

from pathlib import Path

EPILOG = "Every command writes what it makes into a run folder and prints its path."


def add(sub) -> None:
    p = sub.add_parser("shard", help="write a data set as shards that `anymae pretrain --data DIR` streams",
                       epilog=EPILOG,
                       description="Convert images, videos, point clouds or multi-channel arrays (a folder, "
                                   "labels from sub-folders) or a built-in data set into litdata shards: "
                                   "index.json, chunk-*.bin of at most --shard-size-mb each, and anymae.json "
                                   "(modality, labels, classes, channel statistics, skipped files). Image and "
                                   "video files are stored as their own bytes (JPEGs stay JPEGs). Upload the "
                                   "folder to object storage and pass its URL (s3://...) to `anymae pretrain "
                                   "--data` to stream it.")
    p.add_argument("--data", required=True, help="a folder of files or a built-in data set name")
    p.add_argument("--out", help="new folder for the shards (default runs/shards-<data>-<time>)")
    p.add_argument("--shard-size-mb", type=float, default=64.0, help="largest chunk file, in MB (default 64)")
    p.add_argument("--split", default="train", choices=["train", "test", "all"],
                   help="built-in data sets: the split to write (folders: every file; pretrain splits 70/30 "
                        "as it does folders)")
    p.add_argument("--image-size", type=int, default=32,
                   help="built-in data sets: the size they are generated at; folders: the size whose statistics "
                        "are measured (samples keep their own size)")
    p.add_argument("--channels", type=int, help="images: 1 or 3 (default 3); arrays: the channel count expected")
    p.set_defaults(handler=run_shard)


def run_shard(args) -> int:
    import time
    from ..data.shards import write_shards
    out = Path(args.out) if args.out else Path("runs") / f"shards-{Path(args.data).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    report = write_shards(args.data, out, shard_size_mb=args.shard_size_mb, split=args.split,
                          image_size=args.image_size, channels=args.channels)
    print(f"wrote {report.count} {report.modality} samples in {report.chunks} chunk(s), "
          f"{report.bytes / 2**20:.1f} MB ({len(report.skipped)} files skipped"
          f"{', listed in skipped_files.txt' if report.skipped else ''})")
    print(f"run folder: {report.out}")
    return 0
