"""Cross-sensor probe (SMARTIES, row 3): an encoder pretrained on one sensor's bands, probed on another's.

For a run trained on `spectral-shapes` (13 Sentinel-2-like bands) this extracts frozen features of the
same scenes seen by the 13-band sensor and by the 4-band sensor (`spectral-shapes-4band`), for the
trained encoder and for the same architecture at random init, and reports linear-probe accuracy for
  13 -> 13   probe fit and tested on the training sensor,
   4 ->  4   probe fit and tested on the new sensor (the encoder never saw its bands),
  13 ->  4   probe fit on 13-band features, tested on 4-band features of the test scenes (zero-shot sensor swap).

    python benchmarks/cross_sensor.py RUN [--out docs/cross_sensor.md]
"""
from __future__ import annotations

import argparse
from pathlib import Path



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--out", help="markdown table to write")
    parser.add_argument("--pool", default="mean")
    args = parser.parse_args()
    from anymae.eval.features import encoder_features
    from anymae.eval.probe import linear_probe
    from anymae.eval.probe import probe_splits
    from anymae.io.checkpoint import build_untrained, load_run
    from anymae.train.config import PretrainConfig
    model, raw = load_run(args.run)
    config = PretrainConfig.from_dict(raw)
    random_model = build_untrained(raw)
    splits = {s: probe_splits(config, model, s)[1:] for s in ("spectral-shapes", "spectral-shapes-4band")}
    rows = []
    for name, m in (("pretrained", model), ("random init", random_model)):
        feats = {s: [encoder_features(m, d, args.pool) for d in pair]
                 for s, pair in splits.items()}
        labels = {s: [d.labels.numpy() for d in pair] for s, pair in splits.items()}
        a, b = "spectral-shapes", "spectral-shapes-4band"
        rows.append((name,
                     linear_probe(feats[a][0], labels[a][0], feats[a][1], labels[a][1]),
                     linear_probe(feats[b][0], labels[b][0], feats[b][1], labels[b][1]),
                     linear_probe(feats[a][0], labels[a][0], feats[b][1], labels[b][1])))
    lines = [f"Cross-sensor linear probe, run `{Path(args.run).name}` (recipe {config.recipe}, trained on "
             f"{config.data}), pool {args.pool}", "",
             "| encoder | 13 -> 13 | 4 -> 4 | 13 -> 4 (sensor swap) |", "|---|---|---|---|"]
    lines += [f"| {n} | {100 * x:.1f}% | {100 * y:.1f}% | {100 * z:.1f}% |" for n, x, y, z in rows]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
