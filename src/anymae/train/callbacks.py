"""Callbacks: metrics.csv written as training goes."""
from __future__ import annotations

import csv
from pathlib import Path

import lightning as L


class MetricsCSV(L.Callback):
    """One row per optimizer step: step, epoch, loss, lr and any logged loss terms.

    On resume, rows past the checkpoint's step are dropped first so the file stays one history.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.fields: list[str] | None = None

    def on_train_start(self, trainer, module):
        rows = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) < trainer.global_step]
        if rows or trainer.global_step == 0:
            self._rewrite(rows)

    def _rewrite(self, rows):
        self.fields = list(rows[0].keys()) if rows else None
        with open(self.path, "w", newline="") as f:
            if rows:
                writer = csv.DictWriter(f, fieldnames=self.fields)
                writer.writeheader()
                writer.writerows(rows)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_rank != 0:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row = {"step": trainer.global_step - 1, "epoch": trainer.current_epoch,
               "lr": trainer.optimizers[0].param_groups[0]["lr"], **metrics}
        if self.fields is None:
            self.fields = list(row)
            with open(self.path, "w", newline="") as f:
                csv.DictWriter(f, fieldnames=self.fields).writeheader()
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore").writerow(row)
