"""Pixel targets (MAE, row 0): the token's raw values, or per-patch normalised (norm_pix_loss)."""
from __future__ import annotations

from torch import Tensor, nn

from .registry import register_target
from .base import Target


@register_target("pixel")
class PixelTarget(Target):
    """tokens.values [B,N,P] -> targets [B,N,P]; `norm=True` gives zero mean, unit variance per patch."""

    def __init__(self, norm: bool = True, eps: float = 1e-6):
        super().__init__()
        self.norm, self.eps = norm, eps

    def dim(self, tokenizer) -> int:
        return tokenizer.patch_dim

    def make_loss(self, tokenizer) -> nn.Module:
        from ..losses import MSELoss
        return MSELoss()

    def forward(self, x: Tensor, tokens) -> Tensor:
        values = tokens.values
        if not self.norm:
            return values
        mean = values.mean(dim=-1, keepdim=True)
        var = values.var(dim=-1, keepdim=True)
        return (values - mean) / (var + self.eps) ** 0.5

    def invert(self, pred: Tensor, values: Tensor) -> Tensor:
        """Norm-pix predictions back to values with each patch's own mean and std (values [B,N,P])."""
        if not self.norm:
            return pred
        mean, var = values.mean(-1, keepdim=True), values.var(-1, keepdim=True)
        return pred * (var + self.eps) ** 0.5 + mean

    def extra_repr(self) -> str:
        return f"norm={self.norm}"
