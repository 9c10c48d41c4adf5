"""Issue 20's levers in one GPU call (docs/volumes.md): spark3d_tiny / volmae_tiny on volume-shapes,
spark_resnet_tiny on shapes, bmmae_tiny on phantom-mri; each job a plain `anymae pretrain` (fp32) then
`anymae probe` / `anymae impute`, all at once on one GPU.

    python benchmarks/gpu_issue20.py BUDGET_S EVAL_S [--only JOB,JOB] [--out DIR]   # evaluations end by BUDGET_S + EVAL_S
    python benchmarks/gpu_issue20.py 60 60 --only rn_def0,bm_long --dry                # the same plan, tiny, on a CPU

Each job first trains 60 steps beside the others to measure its step cost under that load
(`benchmarks/gpu_generation.py`'s `Plan.rate`), then its full run at min(its steps, what fits before BUDGET_S,
rounded down to a round number); the seeds of a pair get the same count. With $OUT set, everything small ends
in $OUT/r.tgz. It has not run on a device yet.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from pathlib import Path

from gpu_generation import Plan  # benchmarks/gpu_generation.py: commands in threads, calibrated step counts

# name -> (recipe, data, most steps, seed, pair whose seeds share one step count or None, extra pretrain args)
JOBS = {
    "s3_def": ("spark3d_tiny", "volume-shapes", 1500, 0, None, []),
    "s3_long0": ("spark3d_tiny", "volume-shapes", 8000, 0, "a", []),
    "s3_long1": ("spark3d_tiny", "volume-shapes", 8000, 1, "a", []),
    "s3_b16_0": ("spark3d_tiny", "volume-shapes", 8000, 0, "b", ["--batch-size", "16", "--lr", "1e-3"]),
    "s3_b16_1": ("spark3d_tiny", "volume-shapes", 8000, 1, "b", ["--batch-size", "16", "--lr", "1e-3"]),
    "s3_lr3e-4": ("spark3d_tiny", "volume-shapes", 8000, 0, None, ["--lr", "3e-4"]),
    "s3_m75": ("spark3d_tiny", "volume-shapes", 8000, 0, None, ["--arg", "mask_ratio=0.75"]),
    "vm_b16_1": ("volmae_tiny", "volume-shapes", 3000, 1, None, ["--batch-size", "16", "--lr", "1e-3"]),
    "rn_def0": ("spark_resnet_tiny", "shapes", 1000, 0, "c", []),
    "rn_def1": ("spark_resnet_tiny", "shapes", 1000, 1, "c", []),
    "rn_long0": ("spark_resnet_tiny", "shapes", 8000, 0, "d", []),
    "rn_long1": ("spark_resnet_tiny", "shapes", 8000, 1, "d", []),
    "rn_20k": ("spark_resnet_tiny", "shapes:20000", 8000, 0, None, []),
    "bm_long": ("bmmae_tiny", "phantom-mri", 20000, 0, None, []),
    "bm_p2": ("bmmae_tiny", "phantom-mri", 20000, 0, None, ["--arg", "patch_size=2"]),
    "bm_b32": ("bmmae_tiny", "phantom-mri", 20000, 0, None, ["--batch-size", "32", "--lr", "1e-3"]),
    "bm_dec4": ("bmmae_tiny", "phantom-mri", 20000, 0, None, ["--arg", "decoder_depth=4"]),
    "bm_dec192": ("bmmae_tiny", "phantom-mri", 20000, 0, None, ["--arg", "decoder_dim=192"]),
    "bm_whole1": ("bmmae_tiny", "phantom-mri", 20000, 0, None, ["--arg", "whole=1.0"]),
}
ROUND_STEPS = (500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 15000, 20000)


def pretrain_args(name: str) -> list[str]:
    recipe, data, _, seed, _, extra = JOBS[name]
    return ["--recipe", recipe, "--data", data, "--seed", str(seed), "--precision", "32-true", "--workers", "0", *extra]


def in_parallel(work, names) -> None:
    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def step_counts(rates: dict[str, float], seconds_left: float) -> dict[str, int]:
    """The round step count each job fits in `seconds_left` (15% margin, at most its own), a pair's shared."""
    steps = {n: min(JOBS[n][2], max([s for s in ROUND_STEPS if s * 1.15 / rate < seconds_left] or [0]))
             for n, rate in rates.items()}
    pair_steps = {}
    for n, s in steps.items():
        pair = JOBS[n][4]
        if pair:
            pair_steps[pair] = min(s, pair_steps.get(pair, s))
    return {n: pair_steps.get(JOBS[n][4], s) for n, s in steps.items()}


def evaluate(plan: Plan, name: str, timeout: float) -> None:
    run = str(plan.out / name)
    recipe, data = JOBS[name][:2]
    if recipe == "bmmae_tiny":
        for missing in ("flair", "t2", "t1"):
            plan.anymae(f"{name} impute {missing}", "impute", run, "--predict", missing, "--out",
                        f"{run}/impute-{missing}", timeout=timeout - plan.now())
    else:
        plan.anymae(f"{name} probe", "probe", run, "--data", data.split(":")[0], timeout=timeout - plan.now())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("budget", type=float, help="seconds from the start by which training ends")
    p.add_argument("eval", type=float, help="seconds after the budget for probes and imputations")
    p.add_argument("--only", help="comma-separated job names (default: all)")
    p.add_argument("--out", default="/tmp/i20")
    p.add_argument("--dry", action="store_true", help="4-step calibrations and full runs: a smoke run of the plan")
    a = p.parse_args()
    names = a.only.split(",") if a.only else list(JOBS)
    plan = Plan(Path(a.out), a.dry)
    plan.out.mkdir(parents=True, exist_ok=True)
    rates = {}
    in_parallel(lambda n: rates.__setitem__(n, plan.rate(n, pretrain_args(n))), names)
    rates = {n: r for n, r in rates.items() if r}  # a failed calibration leaves its job out
    steps = {n: 4 for n in rates} if a.dry else step_counts(rates, a.budget - plan.now() - 25)
    for n, s in steps.items():
        print(f"{n}: {1e3 / rates[n]:.0f} ms/step -> {s} steps", flush=True)
    trained = []
    in_parallel(lambda n: plan.pretrain(n, pretrain_args(n), steps[n], timeout=a.budget + 60 - plan.now())
                and trained.append(n), [n for n, s in steps.items() if s])
    in_parallel(lambda n: evaluate(plan, n, a.budget + a.eval), trained)
    if os.environ.get("OUT"):
        subprocess.run(["tar", "czf", f"{os.environ['OUT']}/r.tgz", "--exclude=*.safetensors", "--exclude=*.ckpt",
                        "--exclude=checkpoints", "-C", str(plan.out), "."], check=False)
    print(f"{plan.now():.0f} s done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
