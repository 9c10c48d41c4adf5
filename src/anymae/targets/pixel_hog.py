"""Pixels and HOG of each hidden patch as one target (issue 26's shape lever): MAE's norm-pix values,
which keep the pictures, joined by MaskFeat's HOG of the same patch, which carries edges and their
orientations rather than colour."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Target
from .hog import HOGTarget
from .pixel import PixelTarget
from .registry import register_target


@register_target("pixel+hog")
class PixelHOGTarget(Target):
    """tokens.values [B,N,P] -> [B,N,P+H]: norm-pix values, then the patch's HOG (unit L2 norm per patch)
    scaled by sqrt(hog_weight * P), so that under a mean-squared error the HOG part counts `hog_weight`
    times as much as the P pixel values together (each norm-pix value has unit variance)."""

    def __init__(self, hog_weight: float = 1.0, norm: bool = True, cells: int = 2, orientations: int = 9):
        super().__init__()
        if hog_weight <= 0:
            raise ValueError(f"hog_weight={hog_weight!r}: must be > 0 (use the pixel target for none)")
        self.hog_weight = hog_weight
        self.pixel, self.hog = PixelTarget(norm=norm), HOGTarget(cells, orientations)

    def dim(self, tokenizer) -> int:
        return self.pixel.dim(tokenizer) + self.hog.dim(tokenizer)

    def make_loss(self, tokenizer) -> nn.Module:
        from ..losses import MSELoss
        return MSELoss()

    def forward(self, x: Tensor, tokens) -> Tensor:
        pixels = self.pixel(x, tokens)
        scale = (self.hog_weight * pixels.shape[-1]) ** 0.5
        return torch.cat([pixels, scale * self.hog(x, tokens)], dim=-1)

    def invert(self, pred: Tensor, values: Tensor) -> Tensor:
        """The pixel part back to values (the pictures); the HOG part is dropped."""
        return self.pixel.invert(pred[..., :values.shape[-1]], values)

    def extra_repr(self) -> str:
        return f"hog_weight={self.hog_weight}"
