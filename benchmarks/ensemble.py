"""Error against the size K of a mask ensemble (PHG-MAE, row 35), on built-in data.

    python benchmarks/ensemble.py --reconstruct shapes=RUN digits=RUN2 --anomaly textures-defects=RUN3

reconstruct: MSE (normalised pixels) on the first mask's hidden patches of 512 test images, each hidden patch
averaged over the K masks that hide it (`anymae reconstruct --ensemble K`); anomaly: image / pixel AUROC of
RUN's maps with K masks averaged (`anymae anomaly --ensemble K`, no baselines).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

KS = (1, 2, 4, 8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reconstruct", nargs="*", default=[], metavar="DATA=RUN")
    parser.add_argument("--anomaly", nargs="*", default=[], metavar="DATA=RUN")
    parser.add_argument("--count", type=int, default=512)
    args = parser.parse_args()
    import torch
    from anymae.config import PretrainConfig
    from anymae.data import MODALITIES, load_dataset
    from anymae.eval.anomaly import anomaly_splits, reconstruction_maps, score, smooth
    from anymae.eval.ensemble import error_against_k
    from anymae.io.checkpoint import load_run
    torch.set_num_threads(1)
    lines = ["| data | run | measure | " + " | ".join(f"K={k}" for k in KS) + " |", "|---|---|---|" + "---|" * len(KS)]
    for item in args.reconstruct:
        data, run = item.split("=", 1)
        model, raw = load_run(run)
        config = PretrainConfig.from_dict(raw)
        modality = MODALITIES[config.modality]
        test = load_dataset(data, split="test", image_size=modality.sample_size(model, config))
        errors = error_against_k(model, test.with_transform(modality.eval_transform(model, config)), KS,
                                 count=args.count)
        lines.append(f"| {data} | {config.recipe} | hidden-patch MSE | " + " | ".join(f"{errors[k]:.4f}" for k in KS) + " |")
        print(lines[-1], flush=True)
    for item in args.anomaly:
        data, run = item.split("=", 1)
        model, raw = load_run(run)
        config = PretrainConfig.from_dict(raw)
        _, test, raw_test, masks = anomaly_splits(config, model, data)
        labels = raw_test.labels.numpy()
        rows = []
        for k in KS:
            maps = smooth(reconstruction_maps(model, test, k), test[0][0].shape[-1] / 32)
            rows.append(score(f"K={k}", maps, labels, masks.numpy() if masks is not None else None))
        lines.append(f"| {data} | {config.recipe} | image AUROC | " + " | ".join(f"{100 * r.image_auroc:.1f}" for r in rows) + " |")
        lines.append(f"| {data} | {config.recipe} | pixel AUROC | " + " | ".join(f"{100 * r.pixel_auroc:.1f}" for r in rows) + " |")
        print("\n".join(lines[-2:]), flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
