"""Random masking (MAE, row 0): argsort of uniform noise, keep the first int(N(1-r))."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import Mask, Masker, check_sample_args, num_visible, uniform
from .registry import register_masker


@register_masker("random")
class RandomMasker(Masker):
    """Each sample hides exactly N - round(N(1-ratio)) tokens, uniformly at random (`rounding="floor"`:
    N - int(N(1-ratio)), as MAE's and Hugging Face's code)."""

    def __init__(self, ratio: float = 0.75, rounding: str = "round"):
        super().__init__()
        num_visible(4, ratio, rounding)  # validates the ratio and rounding
        self.ratio, self.rounding = ratio, rounding

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu", noise: Tensor | None = None) -> Mask:
        """noise [B,N] optional: the same noise gives the same mask as HF ViTMAE's `noise` argument."""
        n = check_sample_args(batch_size, grid)
        num_keep = num_visible(n, self.ratio, self.rounding)
        if noise is None:
            noise = uniform((batch_size, n), generator, device)
        elif noise.shape != (batch_size, n):
            raise ValueError(f"noise must have shape {(batch_size, n)}, got {tuple(noise.shape)}")
        elif not noise.is_floating_point():
            raise ValueError(f"noise must be floating point, got {noise.dtype}")
        order = torch.argsort(noise, dim=1)  # ascending: small noise is kept
        return Mask.from_order(order, num_keep)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, rounding={self.rounding}"
