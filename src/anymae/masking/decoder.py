"""Decoder masking (VideoMAE V2, row 9): the decoder reconstructs only a subset of the hidden tokens."""
from __future__ import annotations

import torch

from .base import Mask, uniform


def decoder_subset(mask: Mask, keep_ratio: float, generator: torch.Generator | None = None) -> Mask:
    """A Mask whose `predict` is a random round(Np * keep_ratio) of each sample's `predict` tokens
    (the hidden tokens, unless the masker chose a subset already).

    A decoder with `decoder_masking` then runs on the visible tokens plus mask tokens at these
    positions only, and the loss covers them only: decoder cost falls with `keep_ratio`.
    keep_ratio 1 -> the same Mask.
    """
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"decoder keep ratio must be in (0, 1], got {keep_ratio}")
    if keep_ratio == 1.0:
        return mask
    b, n_predict = mask.predict.shape
    count = max(1, int(round(n_predict * keep_ratio)))
    pick = torch.argsort(uniform((b, n_predict), generator, mask.predict.device), dim=1)[:, :count]
    return mask.with_predict(torch.gather(mask.predict, 1, pick))


def select_rows(mask: Mask, rows) -> Mask:
    """The masks of some samples of a batch (`rows`: a slice or index tensor over B)."""
    hidden = mask.hidden[rows]
    predict = hidden if mask.predict is mask.hidden else mask.predict[rows]  # keeps "predict the hidden tokens"
    return Mask(mask.keep[rows], hidden, mask.restore[rows], mask.bool[rows], predict)
