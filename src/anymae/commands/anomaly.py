"""`anymae anomaly RUN`: anomaly detection from masked reconstruction error (MemMC-MAE, row 19), averaged over
K random masks (PHG-MAE's ensembles, row 35), beside the baselines."""
from __future__ import annotations

import time
from pathlib import Path

EPILOG = "Writes OUT/anomaly.json and OUT/heatmaps.png and prints `run folder: OUT`."


def add(sub) -> None:
    p = sub.add_parser("anomaly", help="anomaly detection from masked reconstruction error (image/pixel AUROC, AUPRO)",
                       epilog=EPILOG,
                       description="RUN was pretrained on normal images only (e.g. `anymae pretrain --recipe "
                                   "memmc_tiny --data textures-defects`). Each test image is reconstructed under K "
                                   "random masks; the error of the averaged prediction is its anomaly map, the "
                                   "map's maximum its score. Rows: RUN's model, the same architecture at random "
                                   "init, a per-pixel Gaussian of the normal images, and the nearest raw-pixel "
                                   "patch distance (PatchCore-style). Data: built-in `textures-defects` or a "
                                   "folder in MVTec AD's layout (train/good, test/<defect>, ground_truth/<defect>).")
    p.add_argument("run", help="run folder of a model pretrained on normal images")
    p.add_argument("--data", help="built-in name or MVTec-layout folder (default: the run's data)")
    p.add_argument("--ensemble", type=int, default=8, help="random masks averaged per image (default 8)")
    p.add_argument("--sigma", type=float, help="Gaussian smoothing of the maps in pixels (default: image side / 32)")
    p.add_argument("--count", type=int, default=8, help="test images drawn in heatmaps.png (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the masks and the random-init baseline")
    p.add_argument("--out", help="output folder (default RUN/anomaly-<time>)")
    p.set_defaults(handler=run_anomaly)


def run_anomaly(args) -> int:
    import numpy as np
    from ..eval.anomaly import anomaly_run, format_anomaly_table
    from ..viz.anomaly import anomaly_picture
    run = Path(args.run)
    if not (run / "config.yaml").exists():
        raise ValueError(f"{run}: not an anymae run folder (no config.yaml)")
    if args.count < 1:
        raise ValueError(f"--count must be >= 1, got {args.count}")
    out = Path(args.out) if args.out else run / f"anomaly-{time.strftime('%Y%m%d-%H%M%S')}"
    if (out / "anomaly.json").exists():
        raise ValueError(f"--out {out}: already holds anomaly.json; choose another folder")
    results, title, parts = anomaly_run(run, data=args.data, ensemble=args.ensemble, seed=args.seed, sigma=args.sigma,
                                        out=out)
    print(format_anomaly_table(results, title))
    labels = parts["labels"]
    rng = np.random.default_rng(args.seed)
    bad, good = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    order = list(rng.permutation(bad)[: args.count - args.count // 4]) + list(rng.permutation(good)[: args.count // 4])
    picture = anomaly_picture(parts["images"], parts["masks"], parts["maps"], out / "heatmaps.png",
                              [int(i) for i in order])
    print(f"wrote {picture}")
    print(f"run folder: {out}")
    return 0
