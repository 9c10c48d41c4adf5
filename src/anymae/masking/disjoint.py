"""Disjoint masking (DMJD, row 33): k masked views of each image whose hidden sets do not overlap, each
hiding the masker's ratio, so that more tokens are reconstructed per image."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .base import Mask, Masker, check_sample_args, num_visible, uniform
from .registry import register_masker


@dataclass
class MultiViewMask(Mask):
    """The first view's Mask (what the model's own forward pass uses), plus every view (first included)."""

    views: list = field(default_factory=list)


@register_masker("disjoint")
class DisjointMasker(Masker):
    """One random permutation per sample, cut into `views` consecutive runs of Nh = N - round(N(1-r))
    tokens: run v is view v's hidden set. Needs views * Nh <= N."""

    def __init__(self, ratio: float = 0.5, views: int = 2):
        super().__init__()
        num_visible(4, ratio)
        if views < 1:
            raise ValueError(f"disjoint masker: views must be at least 1, got {views}")
        self.ratio, self.views = ratio, views

    @classmethod
    def example(cls, spatial: tuple[int, int] = (14, 14)):
        """Gallery row (masking/base.py `MaskerExample`): 2 views at 45%, which fits any grid."""
        from .base import MaskerExample
        return MaskerExample(grid=tuple(spatial), variants=[{"views": 2, "ratio": 0.45}],
                             note="first view shown; the second hides the complementary set")

    def sample_views(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
                     device="cpu", noise: Tensor | None = None) -> list[Mask]:
        n = check_sample_args(batch_size, grid)
        hide = n - num_visible(n, self.ratio)
        if self.views * hide > n:
            raise ValueError(f"disjoint masker: {self.views} views hiding {hide} of {n} tokens each cannot be "
                             f"disjoint (views x ratio must be <= 1; ratio {self.ratio})")
        if noise is None:
            noise = uniform((batch_size, n), generator, device)
        order = torch.argsort(noise, dim=1)
        masks = []
        for v in range(self.views):
            hidden_bool = torch.zeros(batch_size, n, dtype=torch.bool, device=device)
            hidden_bool.scatter_(1, order[:, v * hide:(v + 1) * hide], True)
            masks.append(Mask.from_bool(hidden_bool, num_hidden=hide))
        return masks

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu", noise: Tensor | None = None) -> MultiViewMask:
        views = self.sample_views(batch_size, grid, generator, device, noise)
        first = views[0]
        return MultiViewMask(first.keep, first.hidden, first.restore, first.bool, first.predict, views=views)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, views={self.views}"
