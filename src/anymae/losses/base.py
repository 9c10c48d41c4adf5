"""The Loss contract: predictions and targets of the predicted tokens -> per-token loss [B,Np]."""
from __future__ import annotations

from torch import Tensor, nn


class Loss(nn.Module):
    """Base of every loss. `forward(pred [B,Np,T], target [B,Np,T]) -> [B,Np]`; losses that need the mask
    or the tokens (per-modality, frequency-domain) override `token_loss`."""

    def token_loss(self, pred: Tensor, target: Tensor, mask, tokens) -> Tensor:
        """What the model calls: per-token loss [B,Np]."""
        return self(pred, target)
