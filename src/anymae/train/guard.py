"""Non-finite loss / gradient guard: skip the step, log it, stop after N in a row."""
from __future__ import annotations

import logging

import torch

log = logging.getLogger("anymae.train")


def all_finite(tensors) -> bool:
    """True when every tensor holds only finite values (one device sync for all of them)."""
    flags = [torch.isfinite(t).all() for t in tensors]
    return bool(torch.stack(flags).all()) if flags else True


class NonFiniteGuard:
    """Counts optimizer steps whose loss or gradients hold NaN/Inf.

    A bad step is skipped (its gradients are dropped, so neither weights nor optimizer state
    change) and logged with one warning line; after `patience` bad steps in a row the run must
    stop, keeping the weights of the last good step.
    """

    def __init__(self, patience: int):
        if patience < 1:
            raise ValueError(f"max_nonfinite_steps must be at least 1, got {patience}")
        self.patience = patience
        self.in_a_row = 0
        self.skipped = 0

    def check(self, step: int, loss_finite: bool, params) -> bool:
        """-> True when the step may proceed; otherwise drops every gradient of `params` and counts the step."""
        grads = [p.grad for p in params if p.grad is not None]
        grads_finite = all_finite(grads)
        if loss_finite and grads_finite:
            self.in_a_row = 0
            return True
        for p in params:
            p.grad = None  # optimizers skip parameters without gradients: no update, no state change
        self.in_a_row += 1
        self.skipped += 1
        what = "loss" if not loss_finite else "gradients"
        log.warning("step %d: %s not finite; step skipped (%d in a row, at most %d)", step, what,
                    self.in_a_row, self.patience)
        return False

    @property
    def exhausted(self) -> bool:
        return self.in_a_row >= self.patience

    def state_dict(self) -> dict:
        return {"in_a_row": self.in_a_row, "skipped": self.skipped}

    def load_state_dict(self, state: dict) -> None:
        self.in_a_row, self.skipped = int(state.get("in_a_row", 0)), int(state.get("skipped", 0))
