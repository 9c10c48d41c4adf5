"""Per-token classification loss (MP3 position prediction, row 42)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from .base import Loss


class CrossEntropyLoss(Loss):
    """logits [B,M,K], target [B,M,1] (class index stored as a float) -> per-token cross-entropy [B,M]."""

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        b, m, k = pred.shape
        labels = target.reshape(b * m).long()
        return F.cross_entropy(pred.reshape(b * m, k), labels, reduction="none").reshape(b, m)
