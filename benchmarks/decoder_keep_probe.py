"""Effect of VideoMAE V2 decoder masking (`--decoder-keep-ratio`) on the demo's probe accuracy and time.

Pretrains the default recipe on built-in data once per keep ratio (same seed, same epochs), then
probes each encoder (`anymae probe`), and prints train time and probe accuracy side by side.

    python benchmarks/decoder_keep_probe.py --ratios 1,0.5 --epochs 20 --out runs/keep-probe
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ratios", default="1,0.5", help="comma list of decoder keep ratios")
    p.add_argument("--data", default="shapes")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/keep-probe", help="folder for one run per ratio and results.json")
    args = p.parse_args(argv)
    from anymae.eval.probe import probe_run
    from anymae.io.checkpoint import read_config
    from anymae.train.config import PretrainConfig
    from anymae.train.run import pretrain
    out = Path(args.out)
    rows = []
    for ratio in [float(r) for r in args.ratios.split(",")]:
        run = out / f"keep{ratio:g}"
        pretrain(PretrainConfig(data=args.data, epochs=args.epochs, seed=args.seed, decoder_keep_ratio=ratio), run,
                 overwrite=True)
        results, table = probe_run(run)
        summary = read_config(run / "config.yaml").get("summary", {})
        rows.append({"decoder_keep_ratio": ratio, "train_seconds": summary.get("train_seconds"),
                     "probe": [r.__dict__ for r in results]})
        print(f"keep ratio {ratio:g}: trained in {summary.get('train_seconds')} s\n{table}", flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1, default=str))
    print(f"wrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
