"""Fine-tune settings swept in parallel (one GPU, many single-thread processes): pretrained vs from scratch.

    python benchmarks/finetune_sweep.py --video V0,V1 --digits D0,D1 --shapes S0,S1 --out OUT --work /tmp/sweep \
        --accelerator cuda --parallel 11 --deadline 480 [--pretrain-2x 0,1] [--only ref,e30]

Every job is one `benchmarks/finetune.py` call (= `anymae finetune RUN --seed S ...`, both rows, every setting
shared) of one setting and one seed; seed s fine-tunes the s-th run of the list (modulo its length), so a seed
covers pretraining and fine-tuning. `--pretrain-2x 0,1` also pretrains `videomae_vit_tiny` on moving-digits
with twice its default steps (seeds 0 and 1) and fine-tunes those encoders too (`pre2x-*` settings). Jobs start
in the order of SETTINGS (most wanted first) and none starts after `--deadline` seconds; the small files of
each job (finetune_bench.json, every row's result.json and metrics.csv) are copied into OUT/<setting>-s<seed>/,
and OUT/summary.md tabulates them (rows: setting, per-seed pretrained / scratch / gain, means).
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ["--blr", "4e-3"]          # the fourth session's best: blr 4e-3, layer decay 1.0, 15 epochs
LD1 = ["layer_decay=1.0"]
# name -> (data, epochs, blr args, --set pairs); video settings are read on moving-digits, 3 seeds
SETTINGS = {
    "ref": ("moving-digits", 15, BASE, LD1),
    "e30": ("moving-digits", 30, BASE, LD1),
    "dp0": ("moving-digits", 15, BASE, LD1 + ["drop_path=0.0"]),
    "ld075-blr8e-3": ("moving-digits", 15, ["--blr", "8e-3"], ["layer_decay=0.75"]),
    "noreg": ("moving-digits", 15, BASE, LD1 + ["drop_path=0.0", "label_smoothing=0.0"]),
    "reinit1": ("moving-digits", 15, BASE, LD1 + ["reinit_blocks=1"]),
    "freeze-tok": ("moving-digits", 15, BASE, LD1 + ["freeze_tokenizer=true"]),
    "blr8e-3": ("moving-digits", 15, ["--blr", "8e-3"], LD1),
    "e8": ("moving-digits", 8, BASE, LD1),
    "defaults": ("moving-digits", 30, [], []),
    "digits-e30": ("digits", 30, BASE, LD1),
    "shapes-e30": ("shapes", 30, BASE, LD1),
    "blr2e-3": ("moving-digits", 15, ["--blr", "2e-3"], LD1),
    "wu1": ("moving-digits", 15, BASE, LD1 + ["warmup_epochs=1"]),
    "ld09": ("moving-digits", 15, BASE, ["layer_decay=0.9"]),
    "digits-defaults": ("digits", 30, [], []),
    "shapes-defaults": ("shapes", 30, [], []),
}
PRE2X = {"pre2x-ref": "ref", "pre2x-defaults": "defaults", "pre2x-e30": "e30"}
SEEDS = {"moving-digits": (0, 1, 2), "digits": (0, 1), "shapes": (0, 1)}


def finetune_command(args, name: str, setting: tuple, run: str, seed: int, work: Path) -> list[str]:
    data, epochs, blr, pairs = setting
    command = [sys.executable, str(ROOT / "benchmarks" / "finetune.py"), "--run", f"{data}={run}",
               "--epochs", str(epochs), "--seeds", str(seed), "--linear-seeds", "--no-sklearn",
               "--accelerator", args.accelerator, "--out", str(work / f"{name}-s{seed}"), *blr]
    pairs = pairs + ([f"precision={args.precision}"] if args.precision else [])
    return command + (["--set", *pairs] if pairs else [])


def keep_small_files(job: Path, out: Path) -> None:
    """finetune_bench.json and each row's result.json / metrics.csv into out/<job>/ (no checkpoints)."""
    target = out / job.name
    target.mkdir(parents=True, exist_ok=True)
    for path in job.rglob("*"):
        if path.name in ("finetune_bench.json", "result.json", "metrics.csv", "finetune.json"):
            flat = "_".join(path.relative_to(job).parts)
            shutil.copy(path, target / flat)


def summary(out: Path) -> str:
    lines = ["| setting | seeds | pretrained (per seed) | from scratch (per seed) | gain (per seed) | mean gain |",
             "|---|---|---|---|---|---|"]
    results: dict[str, dict] = {}
    for bench in sorted(out.glob("*-s*/finetune_bench.json")):
        name, seed = bench.parent.name.rsplit("-s", 1)
        for entry in json.loads(bench.read_text()).values():
            row = entry.get("finetune", {}).get(seed)
            if row and "pretrained" in row and "from-scratch" in row:
                results.setdefault(name, {})[int(seed)] = (row["pretrained"], row["from-scratch"])
    for name, rows in results.items():
        seeds = sorted(rows)
        pre = [100 * rows[s][0] for s in seeds]
        scr = [100 * rows[s][1] for s in seeds]
        gains = [a - b for a, b in zip(pre, scr)]
        lines.append(f"| {name} | {', '.join(map(str, seeds))} | {' / '.join(f'{v:.1f}' for v in pre)} | "
                     f"{' / '.join(f'{v:.1f}' for v in scr)} | {' / '.join(f'{v:+.1f}' for v in gains)} | "
                     f"{statistics.mean(gains):+.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", required=True, help="comma-separated videomae_vit_tiny run folders (seed order)")
    parser.add_argument("--digits", help="comma-separated mae_laptop digits runs")
    parser.add_argument("--shapes", help="comma-separated mae_laptop shapes runs")
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", required=True, help="folder for the jobs' full outputs (checkpoints)")
    parser.add_argument("--accelerator", default="cuda")
    parser.add_argument("--precision", default="32-true", help="both rows' precision (32-true: as on the CPU)")
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=480, help="no job starts after this many seconds")
    parser.add_argument("--pretrain-2x", default="", help="pretraining seeds of 2x-step video encoders, e.g. 0,1")
    parser.add_argument("--pretrain-workers", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated setting names (default: all)")
    parser.add_argument("--epochs-override", type=int, help="every setting at this many epochs (a smoke test)")
    parser.add_argument("--pretrain-steps", type=int, default=2160)
    args = parser.parse_args()
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    runs = {"moving-digits": args.video.split(","), "digits": (args.digits or "").split(","),
            "shapes": (args.shapes or "").split(",")}
    only = set(filter(None, args.only.split(",")))
    start = time.time()
    jobs: queue.PriorityQueue = queue.PriorityQueue()
    order = 0
    for priority, (name, setting) in enumerate(SETTINGS.items()):
        if (only and name not in only) or not runs[setting[0]][0]:
            continue
        if args.epochs_override:
            setting = (setting[0], args.epochs_override, *setting[2:])
        for seed in SEEDS[setting[0]]:
            run = runs[setting[0]][seed % len(runs[setting[0]])]
            order += 1
            jobs.put((priority, order, name, seed, finetune_command(args, name, setting, run, seed, work)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": f"{ROOT / 'src'}:{os.environ.get('PYTHONPATH', '')}"}
    log = open(out / "sweep.log", "a")
    lock = threading.Lock()

    def say(text: str) -> None:
        with lock:
            line = f"[{time.time() - start:6.0f}s] {text}"
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()

    def pretrain_chain(seed: int) -> None:
        folder = work / f"pre2x-s{seed}"
        command = [sys.executable, "-m", "anymae", "pretrain", "--recipe", "videomae_vit_tiny", "--data", "moving-digits",
                   "--steps", str(args.pretrain_steps), "--seed", str(seed), "--out", str(folder),
                   "--workers", str(args.pretrain_workers), "--accelerator", args.accelerator,
                   "--precision", args.precision]
        say(f"pretrain 2x seed {seed}: start")
        with open(work / f"pre2x-s{seed}.log", "w") as f:
            code = subprocess.call(command, env=env, stdout=f, stderr=subprocess.STDOUT)
        shutil.copy(work / f"pre2x-s{seed}.log", out / f"pre2x-s{seed}.log")
        if (folder / "metrics.csv").exists():
            shutil.copy(folder / "metrics.csv", out / f"pre2x-s{seed}-metrics.csv")
        say(f"pretrain 2x seed {seed}: exit {code}")
        if code != 0:
            return
        for name, base in PRE2X.items():
            if only and name not in only:
                continue
            setting = SETTINGS[base]
            if args.epochs_override:
                setting = (setting[0], args.epochs_override, *setting[2:])
            for s in SEEDS["moving-digits"]:
                if s % len(seeds2x) == seeds2x.index(seed):  # seed s fine-tunes the (s mod n)-th 2x encoder
                    jobs.put((-1, s, name, s, finetune_command(args, name, setting, str(folder), s, work)))

    def worker() -> None:
        while True:
            try:
                _, _, name, seed, command = jobs.get(timeout=5)
            except queue.Empty:
                if not any(t.is_alive() for t in chains):
                    return
                continue
            if time.time() - start > args.deadline:
                say(f"{name} s{seed}: skipped (deadline)")
                continue
            t0 = time.time()
            with open(work / f"{name}-s{seed}.log", "w") as f:
                code = subprocess.call(command, env=env, stdout=f, stderr=subprocess.STDOUT)
            job = work / f"{name}-s{seed}"
            if job.exists():
                keep_small_files(job, out)
            if code != 0:
                shutil.copy(work / f"{name}-s{seed}.log", out / f"{name}-s{seed}.log")
            say(f"{name} s{seed}: exit {code} in {time.time() - t0:.0f}s")
            (out / "summary.md").write_text(summary(out) + "\n")

    seeds2x = [int(s) for s in args.pretrain_2x.split(",") if s]
    chains = [threading.Thread(target=pretrain_chain, args=(s,)) for s in seeds2x]
    for t in chains:
        t.start()
    workers = [threading.Thread(target=worker) for _ in range(args.parallel)]
    for t in workers:
        t.start()
    for t in chains + workers:
        t.join()
    (out / "summary.md").write_text(summary(out) + "\n")
    print(summary(out))


if __name__ == "__main__":
    main()
