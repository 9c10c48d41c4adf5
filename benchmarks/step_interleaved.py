"""The step-throughput comparison of `step_throughput.py`, interleaved step by step in one process.

    python benchmarks/step_interleaved.py [--workload tiny32] [--rounds 12] [--threads 2] [--clock cpu]

`step_throughput.py` runs every implementation in its own process, as issue #9 asks; on a machine
whose load swings within seconds, a process that happens to run during a load peak loses several
times its speed and the ratios swing with it. Here every implementation is built in the same
process and the rounds alternate single training steps (the order rotating each round), so each
ratio is taken from steps a few seconds apart; the figure is the median over rounds of the
per-round ratio to the fastest peer of that round. `--clock cpu` times with the process CPU time
(meaningful with `--threads 1`), which other processes' load disturbs less than wall time.
The same step as `step_throughput.py`: forward with masking and loss + backward + AdamW + zero_grad,
fixed batch of random images, fp32, each implementation's own optimizer.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

PEER_NAMES = ("hf", "lightly", "official")


def build_row(row: str, workload):
    """'anymae', 'anymae --compile' or a peer -> a function running one training step, returning the loss."""
    import step_throughput as st
    import torch
    impl, options = ("anymae", {"compile": True}) if row == "anymae --compile" else (row, {})
    torch.manual_seed(0)
    model, step_loss, optimizer = st.build(impl, workload, options)
    model.train()

    def step(images):
        loss = step_loss(images)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)
    return step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--workload", default="tiny32", help="tiny32 or base224")
    p.add_argument("--rows", default="anymae,anymae --compile,hf,lightly,official", help="comma list")
    p.add_argument("--rounds", type=int, default=12, help="timed rounds (one step of every row each)")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first (compilation happens here)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    p.add_argument("--batch", type=int, help="override the workload's batch (default: the issue's)")
    args = p.parse_args(argv)
    import os
    import warnings
    warnings.filterwarnings("ignore")
    import torch
    from dataclasses import replace
    from peers import WORKLOADS
    torch.set_num_threads(args.threads)
    w = WORKLOADS[args.workload]
    if args.batch:
        w = replace(w, batch=args.batch)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    rows = args.rows.split(",")
    images = torch.randn(w.batch, 3, w.image_size, w.image_size, generator=torch.Generator().manual_seed(0))
    steps = {}
    for row in rows:
        steps[row] = build_row(row, w)
        for _ in range(args.warmup):
            steps[row](images)
    print(f"{w.name}, batch {w.batch}, {args.threads} threads, {args.rounds} rounds, {args.clock} clock, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    times = {row: [] for row in rows}
    ratios = {row: [] for row in rows}
    for r in range(args.rounds):
        this = {}
        for row in rows[r % len(rows):] + rows[:r % len(rows)]:
            t = clock()
            steps[row](images)
            this[row] = clock() - t
            times[row].append(this[row])
        fastest = min(this[row] for row in rows if row in PEER_NAMES)
        for row in rows:
            ratios[row].append(fastest / this[row])
    print(f"| {w.name} | row | median step s | images/s | ratio to fastest peer (median of rounds) | IQR |")
    print("|---|---|---:|---:|---:|---|")
    for row in rows:
        q = statistics.quantiles(ratios[row], n=4) if len(ratios[row]) > 1 else [ratios[row][0]] * 3
        step = statistics.median(times[row])
        print(f"| {w.name} | {row} | {step:.3f} | {w.batch / step:.1f} | {statistics.median(ratios[row]):.3f}x | "
              f"{q[0]:.3f}-{q[2]:.3f} |")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
