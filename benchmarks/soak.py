"""Soak: train the default recipe for a long while with step checkpoints; watch memory, open files and disk.

    python benchmarks/soak.py --minutes 30 --every 15 --out runs/soak

Starts `anymae pretrain` (mae_laptop on built-in shapes, a step budget it cannot finish, a checkpoint
every `--save-every` steps, the default rotation of 3) as a subprocess and samples it from outside every
`--every` seconds: resident memory (VmRSS), open file descriptors (/proc/PID/fd), threads, and the bytes
the run folder holds. At the end it sends SIGINT (the run writes last.ckpt and exits 130) and prints the
table and the growth between the first and last fifth of the samples (after a warm-up fifth).
Linux only (reads /proc). docs/reliability.md quotes the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
from anymae.train.run_folder import folder_bytes  # noqa: E402


def sample(pid: int, run: Path) -> dict | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rows = 0
    try:
        with open(run / "metrics.csv") as f:
            rows = max(0, sum(1 for _ in f) - 1)
    except FileNotFoundError:
        pass
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "fds": fds, "threads": int(fields["Threads"]),
            "disk_mb": folder_bytes(run) / 2**20, "step": rows,
            "checkpoints": len(list((run / "checkpoints").glob("*.ckpt"))) if (run / "checkpoints").exists() else 0}


def growth(samples: list[dict], key: str) -> tuple[float, float]:
    """(mean of the second fifth, mean of the last fifth): the first fifth is warm-up."""
    n = max(1, len(samples) // 5)
    early, late = samples[n:2 * n] or samples[:1], samples[-n:]
    return sum(s[key] for s in early) / len(early), sum(s[key] for s in late) / len(late)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--every", type=float, default=15.0, help="seconds between samples")
    p.add_argument("--save-every", type=int, default=10, help="--save-every-n-steps of the run")
    p.add_argument("--out", default="runs/soak")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write the samples here")
    args = p.parse_args()
    run = Path(args.out)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "anymae", "pretrain", "--steps", "10000000", "--save-every-n-steps",
           str(args.save_every), "--out", str(run), "--overwrite"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    start, samples = time.time(), []
    deadline = start + args.minutes * 60
    while time.time() < deadline and proc.poll() is None:
        s = sample(proc.pid, run)
        if s is not None and s["step"] > 0:
            s["t_s"] = round(time.time() - start, 1)
            samples.append(s)
            print(f"{s['t_s']:8.1f} s  step {s['step']:6d}  rss {s['rss_mb']:7.1f} MB  fds {s['fds']:4d}  "
                  f"threads {s['threads']:3d}  disk {s['disk_mb']:7.2f} MB  ckpts {s['checkpoints']}", flush=True)
        time.sleep(args.every)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    last = [line for line in err.splitlines() if line.startswith("anymae pretrain:")]
    print(f"exit code {proc.returncode}: {last[-1] if last else '(no message)'}")
    if len(samples) >= 5:
        print(f"\n{len(samples)} samples over {samples[-1]['t_s'] / 60:.1f} min, "
              f"steps {samples[0]['step']} -> {samples[-1]['step']}")
        for key, unit in (("rss_mb", "MB"), ("fds", ""), ("threads", ""), ("disk_mb", "MB")):
            a, b = growth(samples, key)
            print(f"{key:8s} second fifth {a:8.2f} {unit:2s} last fifth {b:8.2f} {unit:2s} change {b - a:+8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": cmd, "exit": proc.returncode, "samples": samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
