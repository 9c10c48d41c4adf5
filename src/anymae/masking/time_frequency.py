"""Spectrogram masking (AudioMAE's study, used by HiCMAE's audio branch, PAPERS.md row 16): over a
(frequency, time) token grid, hide whole time columns, whole frequency rows, both, or random patches."""
from __future__ import annotations

import math

import torch

from .base import Mask, Masker, MaskerExample, check_sample_args, num_visible, uniform
from .registry import register_masker

MODES = ("unstructured", "time", "frequency", "time+frequency")


def hidden_lines(batch_size: int, count: int, ratio: float, generator, device) -> torch.Tensor:
    """[B,count] True on round(count * ratio) lines drawn at random per sample (at least one kept)."""
    order = torch.argsort(uniform((batch_size, count), generator, device), dim=1)
    hidden = torch.ones(batch_size, count, dtype=torch.bool, device=device)
    hidden.scatter_(1, order[:, :num_visible(count, ratio)], False)
    return hidden


@register_masker("time_frequency")
class TimeFrequencyMasker(Masker):
    """Masks of a (F, T) spectrogram token grid (rows: frequency bands, columns: time steps).

    mode "unstructured" (AudioMAE's pretraining default): random patches, round(N * ratio) hidden.
    "time": round(T * ratio) whole time columns; "frequency": round(F * ratio) whole frequency rows;
    "time+frequency": each axis hides a share s = 1 - sqrt(1 - ratio) of its lines, so about `ratio` of the
    tokens are hidden (the union of the hidden rows and columns). Every sample hides the same count.
    """

    def __init__(self, ratio: float = 0.8, mode: str = "unstructured"):
        super().__init__()
        num_visible(4, ratio)  # validates the ratio
        if mode not in MODES:
            raise ValueError(f"time_frequency masking mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.ratio, self.mode = ratio, mode

    @classmethod
    def example(cls, spatial: tuple[int, int] = (8, 16)) -> MaskerExample:
        return MaskerExample(grid=tuple(spatial), variants=[{"mode": m} for m in MODES],
                             note="rows: frequency bands (low first), columns: time")

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> Mask:
        n = check_sample_args(batch_size, grid)
        if len(grid) != 2:
            raise ValueError(f"time_frequency masking needs a (frequency, time) token grid, got {tuple(grid)}")
        f, t = (int(g) for g in grid)
        if self.mode == "unstructured":
            order = torch.argsort(uniform((batch_size, n), generator, device), dim=1)
            return Mask.from_order(order, num_visible(n, self.ratio))
        if self.mode == "time":
            hidden = hidden_lines(batch_size, t, self.ratio, generator, device)[:, None, :].expand(-1, f, -1)
        elif self.mode == "frequency":
            hidden = hidden_lines(batch_size, f, self.ratio, generator, device)[:, :, None].expand(-1, -1, t)
        else:
            share = 1.0 - math.sqrt(1.0 - self.ratio)
            if f < 2 or t < 2:
                raise ValueError(f"time+frequency masking needs at least 2 rows and 2 columns, got grid {tuple(grid)}")
            rows = hidden_lines(batch_size, f, share, generator, device) if share * f >= 0.5 else \
                torch.zeros(batch_size, f, dtype=torch.bool, device=device)
            cols = hidden_lines(batch_size, t, share, generator, device) if share * t >= 0.5 else \
                torch.zeros(batch_size, t, dtype=torch.bool, device=device)
            hidden = rows[:, :, None] | cols[:, None, :]
            if not bool(hidden.any()) and batch_size:
                hidden = hidden_lines(batch_size, t, 0.5, generator, device)[:, None, :].expand(-1, f, -1)
        hidden = hidden.reshape(batch_size, n)
        count = int(hidden[0].sum()) if batch_size else 0
        return Mask.from_bool(hidden.contiguous(), num_hidden=count)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, mode={self.mode!r}"
