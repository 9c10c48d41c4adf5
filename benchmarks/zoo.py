"""One table across recipes: pretrain every laptop-size recipe on its built-in data, then probe it (scikit-learn
linear + kNN, random init, the modality's hand-crafted baseline) and fine-tune it beside from-scratch; writes
docs/zoo.md. A benchmark, not a test.

    python benchmarks/zoo.py                                   # every laptop recipe at its default budget
    python benchmarks/zoo.py --recipes mae_laptop@shapes --steps 600 --finetune-epochs 5 --runs runs/zoo

--steps overrides every recipe's pretraining budget (the reduced runs say so in the table); a run folder
already in --runs (RUNS/<recipe>-<data>) is reused, so an interrupted zoo continues where it stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DATA = {"image": "shapes", "video": "moving-digits", "points": "point-shapes", "multichannel": "ihc-stains",
        "multimodal": "shapes-multimodal"}
SKIP = ("_base", "_small", "_large", "_huge")
READS_TEACHER = ("salt_vit_tiny", "hybrid_distill_vit_tiny", "dmae_vit_tiny", "maskalign_vit_tiny", "mrmae_vit_tiny")


def laptop_recipes() -> list[str]:
    """recipe@data for every registered laptop-size recipe whose modality has labelled built-in data."""
    from anymae.recipes import list_recipes
    out = []
    for r in list_recipes():
        if r.name.endswith(SKIP) or r.modality not in DATA or r.name in READS_TEACHER or r.name == "memmc_tiny":
            continue
        out.append(f"{r.name}@{DATA[r.modality]}")
    return out


def pretrain(recipe: str, data: str, run: Path, steps: int | None) -> tuple[float, int]:
    """`anymae pretrain` in a subprocess (its own Lightning state); -> (minutes, steps trained). A run already
    in `run` (a folder or a link to one) is reused: its own training seconds."""
    if (run / "model.safetensors").exists():
        summary = yaml.safe_load((run / "config.yaml").read_text()).get("summary", {})
        return round(summary.get("train_seconds", 0) / 60, 1), summary.get("steps", 0)
    cmd = [sys.executable, "-m", "anymae", "pretrain", "--recipe", recipe, "--data", data, "--out", str(run)]
    if steps:
        cmd += ["--steps", str(steps)]
    start = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                   stdout=subprocess.DEVNULL)
    summary = yaml.safe_load((run / "config.yaml").read_text()).get("summary", {})
    return round((time.time() - start) / 60, 1), summary.get("steps", 0)


def evaluate(run: Path, recipe: str, epochs: int | None, seed: int, blr: float | None = None) -> dict:
    """`anymae probe` (its probe.json when the run has one) and `anymae finetune` at the recipe's own fine-tune
    settings unless `epochs` / `blr` are given (rows already in the folder kept)."""
    from anymae.eval.probe import ProbeResult, probe_run
    from anymae.train.finetune import FinetuneConfig, finetune_run
    if (run / "probe.json").exists():
        rows = [ProbeResult(**r) for r in json.loads((run / "probe.json").read_text())["results"]]
    else:
        rows, _ = probe_run(run, progress=False)
    probe = {r.name: r for r in rows}
    given = {k: v for k, v in {"epochs": epochs, "blr": blr}.items() if v is not None}
    config = FinetuneConfig.for_recipe(recipe, seed=seed, accelerator="cpu", **given)
    out = run / (f"zoo-finetune-e{config.epochs}-s{seed}" + (f"-blr{config.blr:g}" if config.blr is not None else ""))
    ft = finetune_run(run, out, config, progress=False, resume=out.exists())["results"]
    mine = next(r for n, r in probe.items() if n.startswith("anymae encoder"))
    random = next(r for n, r in probe.items() if n.startswith("random init"))
    hand = [r for n, r in probe.items() if not n.startswith(("anymae encoder", "random init", "raw"))]
    return {"linear": mine.linear, "knn": mine.knn, "random_linear": random.linear,
            "finetune": ft["pretrained"]["accuracy"], "scratch": ft["from-scratch"]["accuracy"],
            "epochs": config.epochs, "blr": config.blr, "layer_decay": config.layer_decay,
            "baseline": f"{hand[0].name} {100 * hand[0].linear:.1f}" if hand else "-"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipes", nargs="*",
                        help="recipe@data[:fine-tune epochs[:fine-tune blr]] items (default: every laptop recipe)")
    parser.add_argument("--steps", type=int, help="pretraining steps for every recipe (default: each recipe's own)")
    parser.add_argument("--finetune-epochs", type=int,
                        help="fine-tune epochs for every recipe (default: the recipe's own, else 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/zoo")
    parser.add_argument("--out", default=str(ROOT / "docs" / "zoo.md"))
    args = parser.parse_args()
    import torch
    from anymae.cli import quiet_engine_logs
    torch.set_num_threads(1)
    quiet_engine_logs()
    items = args.recipes or laptop_recipes()
    lines = ["| recipe | data | pretraining steps | pretraining min | linear | kNN | fine-tune | from scratch | "
             "fine-tune epochs | random-init linear | hand-crafted (linear) |", "|---" * 11 + "|"]
    for item in items:
        recipe, data = item.split("@")
        data, _, finetune_budget = data.partition(":")
        epochs, _, blr = finetune_budget.partition(":")
        epochs = int(epochs) if epochs else args.finetune_epochs
        blr = float(blr) if blr else None
        run = Path(args.runs) / f"{recipe}-{data}"
        minutes, steps = pretrain(recipe, data, run, args.steps)
        r = evaluate(run, recipe, epochs, args.seed, blr)
        pct = lambda v: f"{100 * v:.1f}"
        finetune_budget = str(r["epochs"]) + (f", blr {r['blr']:g}" if r["blr"] else "") + (
            f", layer decay {r['layer_decay']:g}" if r["layer_decay"] != 0.75 else "")
        lines.append(f"| {recipe} | {data} | {steps} | {minutes} | {pct(r['linear'])} | {pct(r['knn'])} | "
                     f"{pct(r['finetune'])} | {pct(r['scratch'])} | {finetune_budget} | "
                     f"{pct(r['random_linear'])} | "
                     f"{r['baseline']} |")
        print(lines[-1], flush=True)
    budget = f"--steps {args.steps}" if args.steps else "each recipe's default budget"
    head = ["# Recipe zoo", "", f"Command: `python benchmarks/zoo.py {' '.join(sys.argv[1:])}` "
            f"({time.strftime('%Y-%m-%d')}; pretraining at {budget}; fine-tuning at each recipe's own settings "
            f"unless the row says, seed {args.seed}). Linear and kNN: `anymae probe` (logistic regression / kNN-20 on frozen features); "
            "fine-tune and from scratch: `anymae finetune` (MAE's recipe, same budget); pretraining minutes are "
            "wall minutes on the shared 2-core machine.", ""]
    Path(args.out).write_text("\n".join(head + lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
