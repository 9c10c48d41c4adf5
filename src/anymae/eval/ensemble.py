"""Error against the size K of a mask ensemble (PHG-MAE, row 35) on a data set: docs/evaluation.md's table."""
from __future__ import annotations

import torch

from ..ensemble import masked_ensemble


@torch.no_grad()
def error_against_k(model, data, ks=(1, 2, 4, 8), seed: int = 0, batch_size: int = 128, count: int = 512) -> dict:
    """MSE (normalised units) on the first mask's hidden tokens of up to `count` samples, for each K in `ks`
    (the same first mask for every K) -> {K: mse}."""
    from torch.utils.data import DataLoader, Subset
    model.eval()
    subset = Subset(data, range(min(count, len(data))))
    errors = {}
    for k in ks:
        total, n = 0.0, 0
        for i, (x, _, _) in enumerate(DataLoader(subset, batch_size=batch_size)):
            mask, pred = masked_ensemble(model, x, k, torch.Generator().manual_seed(seed * 100_003 + i))
            truth = model.tokenizer.patchify(x)
            err = (pred - truth).pow(2).mean(-1)  # [B,N]
            total += float(err[mask.bool].sum())
            n += int(mask.bool.sum())
        errors[k] = total / max(n, 1)
    return errors
