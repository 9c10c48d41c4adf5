"""Predict the visible tokens instead of the hidden ones: position prediction (MP3, row 42) and
visible-token alignment (MaskAlign, row 6) read the encoder's own tokens."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import Mask, Masker


class PredictVisible(Masker):
    """Wraps a masker: the same keep/hidden sets, with `predict = keep`."""

    def __init__(self, inner: Masker):
        super().__init__()
        self.inner = inner

    @property
    def ratio(self) -> float:
        return self.inner.ratio

    @ratio.setter
    def ratio(self, value: float) -> None:
        self.inner.ratio = value

    def forward(self, tokens, generator: torch.Generator | None = None, scores: Tensor | None = None) -> Mask:
        mask = self.inner(tokens, generator) if scores is None else self.inner(tokens, generator, scores=scores)
        return mask.with_predict(mask.keep)

    def sample(self, batch_size, grid, generator=None, device="cpu", **kwargs) -> Mask:
        mask = self.inner.sample(batch_size, grid, generator, device, **kwargs)
        return mask.with_predict(mask.keep)
