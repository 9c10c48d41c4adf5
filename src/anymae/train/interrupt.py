"""SIGINT / SIGTERM during training: finish the step, write last.ckpt, stop with a message (exit 130 / 143).

Lightning's own Ctrl-C handling ends the process with exit 1 and no word on what was kept. Here the
signal only raises a flag; the callback acts at the end of the next optimizer step (never in the middle
of an accumulation), writes `checkpoints/last.ckpt` the way the step checkpoints are written (so the
resume is exact, guarantee 1) and raises `Interrupted`, which the CLI prints as one line. A second
signal while the first is handled stops at once, as Lightning does.
"""
from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

import lightning as L

from ..errors import Interrupted

SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class StopOnSignal(L.Callback):
    """Put last in the callback list, so the step's own checkpoints are written before it acts."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.signum: int | None = None
        self.step_seen: int | None = None

    def on_train_start(self, trainer, module):
        self.step_seen = trainer.global_step

    @contextmanager
    def catching(self):
        """Install the flag-raising handlers for the duration of `trainer.fit` (main thread only)."""
        def on_signal(signum, frame):
            if self.signum is not None:  # a second signal: stop now
                raise KeyboardInterrupt
            self.signum = signum
        installed = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                installed[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread
            pass
        try:
            yield self
        finally:
            for sig, before in installed.items():
                signal.signal(sig, before)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        stepped = trainer.global_step != self.step_seen
        self.step_seen = trainer.global_step
        if self.signum is None or not stepped:
            return
        last = self.run_dir / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(last)
        raise Interrupted(f"interrupted at step {trainer.global_step} — resume with `anymae pretrain --resume "
                          f"{self.run_dir}` ({SIGNAL_NAMES[self.signum]}; that step's state is in {last})",
                          EXIT_CODES[self.signum])
