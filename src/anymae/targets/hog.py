"""HOG per patch (MaskFeat; mmpretrain has it): histograms of oriented gradients of each token's patch,
computed exactly as scikit-image's `hog` does on that patch alone."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..losses import MSELoss
from .registry import register_target
from .base import Target


def patch_hog(patches: Tensor, cells: int = 2, orientations: int = 9, eps: float = 1e-5) -> Tensor:
    """patches [M,p,p] (grey) -> HOG [M, cells*cells*orientations].

    scikit-image's recipe: central-difference gradients inside the patch (zero on its border),
    unsigned orientation in [0, 180) with hard binning, per-cell mean magnitude, then one block of
    all cells L2-normalised (`block_norm='L2'`, eps 1e-5); layout (cell row, cell col, orientation).
    """
    m, p, _ = patches.shape
    if p % cells:
        raise ValueError(f"patch side {p} is not divisible by {cells} HOG cells")
    g_row = torch.zeros_like(patches)
    g_col = torch.zeros_like(patches)
    g_row[:, 1:-1, :] = patches[:, 2:, :] - patches[:, :-2, :]
    g_col[:, :, 1:-1] = patches[:, :, 2:] - patches[:, :, :-2]
    magnitude = torch.hypot(g_row, g_col)
    angle = torch.rad2deg(torch.atan2(g_row, g_col)) % 180.0
    width = 180.0 / orientations
    bins = torch.clamp((angle / width).floor().long(), max=orientations - 1)
    c = p // cells
    cell_id = (torch.arange(p, device=patches.device) // c)
    cell_index = (cell_id.view(p, 1) * cells + cell_id.view(1, p)).expand(m, p, p)  # [M,p,p]
    flat = (cell_index * orientations + bins).reshape(m, -1)
    hist = torch.zeros(m, cells * cells * orientations, dtype=patches.dtype, device=patches.device)
    hist.scatter_add_(1, flat, magnitude.reshape(m, -1))
    hist = hist / (c * c)
    return hist / torch.sqrt((hist ** 2).sum(-1, keepdim=True) + eps ** 2)


@register_target("hog")
class HOGTarget(Target):
    """tokens.values [B,N,p*p*C] -> HOG of each patch's grey image [B,N,cells^2*orientations] (MaskFeat)."""

    pixel_space = False  # predictions are not pixels: no reconstruction pictures

    def __init__(self, cells: int = 2, orientations: int = 9):
        super().__init__()
        self.cells, self.orientations = cells, orientations

    def dim(self, tokenizer) -> int:
        return self.cells * self.cells * self.orientations

    def make_loss(self, tokenizer) -> nn.Module:
        return MSELoss()

    def forward(self, x: Tensor, tokens) -> Tensor:
        values = tokens.values
        b, n, pdim = values.shape
        channels = getattr(tokens, "channels", None) or _channels_of(x)
        p = int(round(math.sqrt(pdim / channels)))
        if p * p * channels != pdim:
            raise ValueError(f"HOG target needs square image patches; token width {pdim} is not p*p*{channels}")
        grey = values.reshape(b * n, p, p, channels).mean(-1)
        return patch_hog(grey, self.cells, self.orientations).reshape(b, n, -1)

    def extra_repr(self) -> str:
        return f"cells={self.cells}, orientations={self.orientations}"


def _channels_of(x: Tensor) -> int:
    if x.ndim != 4:
        raise ValueError(f"HOG target reads images [B,C,H,W], got a tensor of shape {tuple(x.shape)}")
    return x.shape[1]
