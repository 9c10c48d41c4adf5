"""Fine-tune vs from-scratch (and MAE's linear probe vs random init, and the scikit-learn probe) of pretrained runs.

    python benchmarks/finetune.py --run shapes=RUN --run digits=RUN2 --epochs 15 --seeds 0 1 --out runs/bench-ft
    python benchmarks/finetune.py --run digits=RUN_S0,RUN_S1 --seeds 0 1 --out runs/bench-ft   # one run per seed

Each RUN is an `anymae pretrain` folder (a comma-separated list: the i-th seed fine-tunes the i-th run, so a
seed covers pretraining and fine-tuning; one run: every seed fine-tunes it); every row is trained by
`anymae.train.finetune.finetune_run`, the code behind `anymae finetune`, so `anymae finetune RUN --epochs E
--seed S` reproduces it. Prints a markdown table (and every run's `anymae probe` rows) and writes
OUT/finetune_bench.json; rows already in it are kept, so an interrupted benchmark continues.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", action="append", required=True, metavar="DATA=RUN")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--linear-epochs", type=int, help="epochs of the linear probe (default --epochs)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1], help="fine-tune seeds (none: linear probe only)")
    parser.add_argument("--linear-seeds", type=int, nargs="*", help="seeds of the linear probe (default --seeds)")
    parser.add_argument("--blr", type=float, help="fine-tuning base lr (default: FinetuneConfig's, 1e-3)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="other FinetuneConfig settings of the fine-tune rows, e.g. layer_decay=1.0 warmup_epochs=2")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--accelerator", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import torch
    from anymae.cli import quiet_engine_logs
    from anymae.train.finetune import FinetuneConfig, finetune_run
    torch.set_num_threads(1)
    quiet_engine_logs()
    out = Path(args.out)
    report = json.loads((out / "finetune_bench.json").read_text()) if (out / "finetune_bench.json").exists() else {}
    for item in args.run:
        data, spec = item.split("=", 1)
        runs = spec.split(",")
        entry = report.setdefault(data, {"run": spec, "finetune": {}, "linear": {}})
        for linear, seeds, epochs in ((False, args.seeds, args.epochs),
                                      (True, args.linear_seeds if args.linear_seeds is not None else args.seeds,
                                       args.linear_epochs or args.epochs)):
            kind = "linear" if linear else "finetune"
            for i, seed in enumerate(seeds):
                if str(seed) in entry[kind]:
                    continue
                run = runs[i % len(runs)]
                folder = out / f"{data}-{kind}-s{seed}"
                extra = {"blr": args.blr} if args.blr is not None and not linear else {}
                if not linear:
                    extra.update(settings(args.set))
                summary = finetune_run(run, folder, FinetuneConfig(epochs=epochs, seed=seed, linear=linear,
                                                                   accelerator=args.accelerator, **extra),
                                       progress=False, resume=folder.exists())
                entry[kind][str(seed)] = {row: r["accuracy"] for row, r in summary["results"].items()}
                entry[kind][str(seed)]["run"] = run
                entry[kind + "_settings"] = summary["settings"]
                print(data, kind, seed, entry[kind][str(seed)], flush=True)
                out.mkdir(parents=True, exist_ok=True)
                (out / "finetune_bench.json").write_text(json.dumps(report, indent=2))
        for run in ([] if args.no_sklearn else runs):  # `anymae probe RUN` of every run
            if run in entry.setdefault("sklearn", {}):
                continue
            from anymae.eval.probe import probe_run
            rows, _ = probe_run(run, progress=False)
            entry["sklearn"][run] = {r.name: {"linear": r.linear, "knn": r.knn} for r in rows}
            print(data, "sklearn probe", run, entry["sklearn"][run], flush=True)
            (out / "finetune_bench.json").write_text(json.dumps(report, indent=2))
    print(table(report))


def settings(pairs: list[str]) -> dict:
    """["layer_decay=1.0", "pool=mean"] -> {"layer_decay": 1.0, "pool": "mean"} (numbers parsed)."""
    out = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        try:
            out[key] = {"true": True, "false": False}[value.lower()] if value.lower() in ("true", "false") else (
                int(value) if value.lstrip("-").isdigit() else float(value))
        except ValueError:
            out[key] = value
    return out


def table(report: dict) -> str:
    mean = lambda xs: 100 * statistics.mean(xs)
    lines = ["| data | protocol | seeds | pretrained | from scratch | gain (per seed) |", "|---|---|---|---|---|---|"]
    for data, entry in report.items():
        for kind in ("finetune", "linear"):
            rows = entry.get(kind, {})
            if not rows:
                continue
            rows = {s: r for s, r in rows.items() if "pretrained" in r and "from-scratch" in r}
            if not rows:
                continue
            pre = [r["pretrained"] for r in rows.values()]
            scratch = [r["from-scratch"] for r in rows.values()]
            gains = ", ".join(f"{100 * (a - b):+.1f}" for a, b in zip(pre, scratch))
            lines.append(f"| {data} | {'fine-tune' if kind == 'finetune' else 'linear probe (MAE)'} | "
                         f"{', '.join(rows)} | {mean(pre):.1f} | {mean(scratch):.1f} | {gains} |")
    probes = [(data, run, r) for data, entry in report.items() for run, r in entry.get("sklearn", {}).items()]
    if probes:
        lines += ["", "| data | run | scikit-learn probe (`anymae probe`): linear / kNN |", "|---|---|---|"]
        lines += [f"| {data} | {run} | " + "; ".join(f"{name} {100 * v['linear']:.1f} / {100 * v['knn']:.1f}"
                                                   for name, v in r.items()) + " |" for data, run, r in probes]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
