"""Inference-time mask ensembles (PHG-MAE, PAPERS.md row 35): predict under K random masks of the same ratio and
average, so each prediction is the mean over K different contexts instead of one.

`masked_ensemble` averages, for every token, the predictions of the masks that *hide* it (an inpainting
ensemble: a token is judged from context only), as `anymae reconstruct --ensemble K` draws and
`eval.ensemble.error_against_k` measures; `ensemble_prediction` averages every token's predictions, visible
ones too (the anomaly maps of `anymae anomaly`). Both only call the model's `reconstruct` step.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .masking.base import Mask


@torch.no_grad()
def masked_ensemble(model, x: Tensor, k: int, generator: torch.Generator) -> tuple[Mask, Tensor]:
    """x [B,...] -> (the first mask, predictions [B,N,P] in the tokenizer's value space): for each token the mean
    of its predictions over the k masks that hid it (the first mask's prediction where none of the others did)."""
    if k < 1:
        raise ValueError(f"--ensemble must be >= 1, got {k}")
    first, total, count = None, 0, 0
    for _ in range(k):
        mask, pred = model.reconstruct(x, generator=generator)
        hidden = mask.bool.unsqueeze(-1).to(pred.dtype)  # [B,N,1]
        first = first if first is not None else (mask, pred)
        total, count = total + pred * hidden, count + hidden
    mask, pred = first
    return mask, torch.where(count > 0, total / count.clamp_min(1), pred)


@torch.no_grad()
def ensemble_prediction(model, x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """The mean of `k` reconstructions of x [B,C,H,W] under k random masks of the model's ratio (PHG-MAE's
    inference-time ensemble): [B,C,H,W], every token predicted (visible ones too)."""
    total = 0
    for _ in range(k):
        _, values = model.reconstruct(x, generator=generator)
        total = total + model.tokenizer.unpatchify(values)
    return total / k
