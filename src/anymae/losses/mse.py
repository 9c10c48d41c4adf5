"""Per-token regression losses (MAE, row 0)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from .base import Loss


class MSELoss(Loss):
    """pred, target [B,M,T] -> per-token mean squared error [B,M]."""

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return (pred - target).pow(2).mean(dim=-1)


class SmoothL1Loss(Loss):
    """pred, target [B,M,T] -> per-token smooth-L1 [B,M] (CAE, row 5)."""

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = beta

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(pred, target, reduction="none", beta=self.beta).mean(dim=-1)
