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


class SamplerResume(L.Callback):
    """Stores where the sampler is in its epoch in every checkpoint and, on resume, skips what was done.

    Lightning restarts a mid-epoch resume at the checkpoint's batch count but asks the loader for
    a fresh iterator; without this the epoch would start over with samples already trained on.
    The count is `batch_progress.current.processed`: batches whose optimizer work finished (a
    checkpoint written in `on_train_batch_end` has processed == completed + 1).
    """

    def __init__(self, sampler, batch_size: int):
        self.sampler, self.batch_size = sampler, batch_size

    def on_save_checkpoint(self, trainer, module, checkpoint):
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        checkpoint["anymae_sampler"] = {"epoch": int(self.sampler.epoch), "batches": int(done),
                                        "batch_size": int(self.batch_size),
                                        "world": int(getattr(self.sampler, "world", 1))}

    def on_load_checkpoint(self, trainer, module, checkpoint):
        """Ranks read perm[rank::world], so `batches` steps of a global batch G consumed exactly the
        epoch's first batches * G samples: a run may resume on another number of processes as long
        as the global batch (batch_size x processes) is the same."""
        state = checkpoint.get("anymae_sampler")
        if state is None:
            return
        world = int(getattr(self.sampler, "world", 1))
        if getattr(self.sampler, "same_world_to_resume", False) and state.get("world", 1) != world:
            raise ValueError(f"this run streams shards, whose order depends on the number of processes: resume it "
                             f"on {state.get('world', 1)} process(es), not {world}")
        saved_global = state["batch_size"] * state.get("world", 1)
        if saved_global != self.batch_size * world:
            raise ValueError(f"batch_size {self.batch_size} x {world} process(es) differs from the checkpoint's "
                             f"{state['batch_size']} x {state.get('world', 1)}; a resumed run must keep its "
                             "global batch size")
        self.sampler.resume_at(state["epoch"], state["batches"] * saved_global // world)
