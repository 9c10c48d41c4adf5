"""Masked generation (issues 18 and 19) at GPU budgets, in one call of a few minutes: every generator of
docs/generation.md on `digits` and `shapes`, trained side by side on one GPU, then scored.

    python benchmarks/gpu_generation.py --out runs/gpu-gen                    # one GPU, ~7 minutes
    python benchmarks/gpu_generation.py --out /tmp/gg --dry                  # the same plan, tiny, on a CPU

Each run is a plain `anymae pretrain` / `anymae generate` command (printed). A lent GPU is short, so each
generator's step count is *calibrated*, not guessed: it first trains a few steps beside the others (the same
contention), and its real run gets the steps that fit the time left before `--train-until` seconds (clamped
to [min, max] of its row below); tokenizers train a fixed number of steps first. Large batches (256) use
the GPU that the CPU defaults (64) leave idle. `shapes:20000` renders 20,000 training shapes (the built-in
default is 2,000: a long run would learn them by heart; the test split is the same 1,000 images).
Seen on one H200 (docs/generation.md, "Measured at GPU budgets"): ten such processes on one GPU each ran 3-6x
slower than alone (time-slicing), so a 3,000-step tokenizer missed its deadline; give a call fewer generators
(`--only`). Writes OUT/plan.json (every command, its steps, seconds, exit code) and each run's generate.json /
probe.json / samples PNG.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIG = ["--batch-size", "256", "--save-every-n-steps", "1000000"]
SHAPES = ["--data", "shapes:20000", "--image-size", "32"]
DIGITS = ["--data", "digits", "--image-size", "8"]

# name -> (pretrain args, min steps, max steps); `{tok}` is a tokenizer run of this plan
TOKENIZERS = {
    "shapes-qlae": (["--recipe", "qlae_tiny", *SHAPES, "--arg", "downsample=4", "--arg", "width=48", *BIG], 3000),
    "shapes-klae": (["--recipe", "klae_tiny", *SHAPES, "--arg", "downsample=4", "--arg", "width=48", *BIG], 3000),
    "digits-klae": (["--recipe", "klae_tiny", *DIGITS, *BIG], 2000),
}
GENERATORS = {
    "shapes-maskgit": (["--recipe", "maskgit_tiny", "--tokenizer", "{shapes-qlae}", "--data", "shapes:20000",
                        "--arg", "dim=256", "--arg", "depth=6", "--arg", "heads=8", *BIG], 1500, 12000),
    "shapes-enat": (["--recipe", "enat_tiny", "--tokenizer", "{shapes-qlae}", "--data", "shapes:20000",
                     "--arg", "dim=256", "--arg", "enc_depth=5", "--arg", "depth=1", "--arg", "heads=8", *BIG],
                    1500, 12000),
    "shapes-mar": (["--recipe", "mar_tiny", *SHAPES, "--patch-size", "4", "--arg", "dim=192", "--arg", "heads=6",
                    "--arg", "enc_depth=3", "--arg", "depth=3", "--arg", "head_width=256", *BIG], 1500, 12000),
    "shapes-harmon": (["--recipe", "harmon_tiny", *SHAPES, "--patch-size", "4", "--arg", "dim=192",
                       "--arg", "heads=6", "--arg", "enc_depth=3", "--arg", "depth=3", "--arg", "head_width=256",
                       *BIG], 1500, 12000),
    "shapes-umd": (["--recipe", "umd_tiny", *SHAPES, "--patch-size", "4", "--arg", "dim=192", "--arg", "heads=6",
                    "--arg", "enc_depth=4", "--arg", "depth=2", *BIG], 1500, 12000),
    "shapes-lmd": (["--recipe", "lmd_tiny", "--tokenizer", "{shapes-klae}", "--data", "shapes:20000",
                    "--arg", "dim=192", "--arg", "heads=6", "--arg", "enc_depth=3", "--arg", "depth=3",
                    "--arg", "head_width=256", *BIG], 1500, 12000),
    "digits-mar": (["--recipe", "mar_tiny", *DIGITS, "--patch-size", "2", *BIG], 1000, 8000),
    "digits-harmon": (["--recipe", "harmon_tiny", *DIGITS, "--patch-size", "2", *BIG], 1000, 8000),
    "digits-umd": (["--recipe", "umd_tiny", *DIGITS, "--patch-size", "2", *BIG], 1000, 8000),
    "digits-lmd": (["--recipe", "lmd_tiny", "--tokenizer", "{digits-klae}", "--data", "digits", *BIG], 1000, 8000),
}
# generator -> one `anymae generate` argument list per score table (each table its own generate-<k>.json)
SCORES = {
    "shapes-maskgit": [["--score-samplers", "maskgit,recap,joint", "--score-steps", "8"],
                       ["--score-samplers", "maskgit", "--score-steps", "8", "--guidance", "2"]],
    "shapes-enat": [["--score-samplers", "maskgit,enat", "--score-steps", "8"]],
    "shapes-mar": [["--score-steps", "8"], ["--score-steps", "8", "--guidance", "2"]],
    "shapes-harmon": [["--score-steps", "8", "--probe"], ["--score-steps", "8", "--guidance", "2"]],
    "shapes-umd": [["--score-steps", "50", "--probe"], ["--score-steps", "50", "--guidance", "2"]],
    "shapes-lmd": [["--score-steps", "8"], ["--score-steps", "8", "--guidance", "2"]],
    "digits-mar": [["--score-steps", "8"], ["--score-steps", "8", "--guidance", "2"]],
    "digits-harmon": [["--score-steps", "8", "--probe"], ["--score-steps", "8", "--guidance", "2"]],
    "digits-umd": [["--score-steps", "50", "--probe"], ["--score-steps", "50", "--guidance", "2"]],
    "digits-lmd": [["--score-steps", "8"], ["--score-steps", "8", "--guidance", "2"]],
}
TRAINED = re.compile(r"trained (\d+) steps in ([\d.]+) s")


class Plan:
    """Runs commands in threads and records each (command, seconds, exit code, tail) in OUT/plan.json."""

    def __init__(self, out: Path, dry: bool):
        self.out, self.dry, self.rows, self.lock = out, dry, [], threading.Lock()
        self.start = time.time()
        self.finished = {name: threading.Event() for name in TOKENIZERS}  # set when a tokenizer run ends

    def now(self) -> float:
        return time.time() - self.start

    def anymae(self, name: str, *args: str, timeout: float = 600) -> str:
        cmd = [sys.executable, "-m", "anymae", *args]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
        began = self.now()
        print(f"[{began:5.0f} s] {name}: anymae {' '.join(args)}", flush=True)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=max(5, timeout))
            text, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as err:
            text, code = ((err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes)
                          else (err.stdout or "")), "timeout"
        lines = [l for l in text.replace("\r", "\n").splitlines() if l.strip() and "it/s]" not in l
                 and "s/it]" not in l and not re.match(r"^[\w -]+:\s+\d+%", l)]
        row = {"name": name, "args": list(args), "began_s": round(began, 1), "seconds": round(self.now() - began, 1),
               "exit": code, "tail": lines[-30:]}
        with self.lock:
            self.rows.append(row)
            (self.out / "plan.json").write_text(json.dumps(self.rows, indent=1))
        print(f"[{self.now():5.0f} s] {name}: exit {code} after {row['seconds']} s" +
              ("" if code == 0 else "\n  " + "\n  ".join(lines[-8:])), flush=True)
        return text

    def pretrain(self, name: str, args: list[str], steps: int, timeout: float) -> bool:
        run = self.out / name
        self.anymae(name, "pretrain", *args, "--steps", str(steps), "--out", str(run), timeout=timeout)
        return (run / "model.safetensors").exists()

    def rate(self, name: str, args: list[str]) -> float | None:
        """Steps per second of `args` here and now (a short run beside the others)."""
        steps = 4 if self.dry else 60
        text = self.anymae(f"{name} (calibrate)", "pretrain", *args, "--steps", str(steps), "--out",
                           str(self.out / "calibrate" / name), timeout=240)
        found = TRAINED.findall(text)
        return int(found[-1][0]) / float(found[-1][1]) if found else None


def resolve(args: list[str], out: Path, dry: bool = False) -> list[str]:
    """`{name}` -> the run folder OUT/name; a dry run renders 500 training shapes instead of 20,000."""
    args = [re.sub(r"\{([\w-]+)\}", lambda m: str(out / m.group(1)), a) for a in args]
    return [a.replace("shapes:20000", "shapes:500") for a in args] if dry else args


def tokenizers_of(name: str) -> list[str]:
    """The tokenizer runs of this plan that generator `name` reads (its `{tokenizer}` arguments)."""
    return re.findall(r"\{([\w-]+)\}", " ".join(GENERATORS[name][0]))


def generator_job(plan: Plan, name: str, train_until: float, score_until: float) -> None:
    args, lo, hi = GENERATORS[name]
    args = resolve(args, plan.out, plan.dry)
    for ref in tokenizers_of(name):
        plan.finished[ref].wait()
        if not (plan.out / ref / "model.safetensors").exists():
            print(f"{name}: tokenizer {ref} failed, skipped", flush=True)
            return
    if plan.dry:
        steps = 6
    else:
        rate = plan.rate(name, args)
        if rate is None:
            return
        steps = int(min(hi, max(lo, 0.9 * rate * (train_until - plan.now() - 15))))
    if not plan.pretrain(name, args, steps, timeout=score_until - plan.now() - 20):
        return
    quick = ["--score-count", "60", "--classifier-steps", "20", "--joint-steps", "5"] if plan.dry else \
        ["--classifier-steps", "3000"]
    for k, extra in enumerate(SCORES.get(name, [])):
        if score_until - plan.now() < 30:   # a call cut short keeps nothing: leave it out
            print(f"{name} score {k}: no time left, skipped", flush=True)
            continue
        png = plan.out / f"{name}-{k}.png"
        plan.anymae(f"{name} score {k}", "generate", str(plan.out / name), "--score", "--n", "80",
                    "--steps", extra[extra.index("--score-steps") + 1].split(",")[-1], "--out", str(png),
                    *extra, *quick, timeout=score_until - plan.now())
        made = plan.out / name / "generate.json"
        if made.exists():
            made.rename(plan.out / name / f"generate-{k}.json")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--dry", action="store_true", help="tiny steps on any device: a smoke run of the plan")
    p.add_argument("--train-until", type=float, default=330, help="seconds from the start by which training ends")
    p.add_argument("--score-until", type=float, default=480, help="seconds from the start by which scoring ends")
    p.add_argument("--only", help="comma-separated generator names (default: all)")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    plan = Plan(out, a.dry)
    names = a.only.split(",") if a.only else list(GENERATORS)
    wanted = {ref for n in names for ref in tokenizers_of(n)}

    def tokenizer(name: str) -> None:
        args, steps = TOKENIZERS[name]
        plan.pretrain(name, resolve(args, out, a.dry), 5 if a.dry else steps, timeout=a.train_until * 0.6)
        plan.finished[name].set()

    threads = [threading.Thread(target=tokenizer, args=(n,)) for n in TOKENIZERS if n in wanted]
    threads += [threading.Thread(target=generator_job, args=(plan, n, a.train_until, a.score_until)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"done in {plan.now():.0f} s; {out / 'plan.json'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
