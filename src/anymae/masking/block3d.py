"""3-D block masking for volumes (rows 15, 17, 25): BEiT's block-wise masking with cuboids instead of rectangles.

Cuboids of whole 3-D patches are added one at a time until the asked count is hidden; each has sides drawn
uniformly in [1, ceil(max_side * grid side)] and a uniform corner. To hide exactly N - round(N(1-ratio))
tokens, the cuboid that reaches the count is cut in raster order, so every hidden token lies in a drawn
cuboid. Random 3-D masking needs no masker of its own: `RandomMasker` works on any token grid.
"""
from __future__ import annotations

import math

import torch

from .base import Mask, Masker, MaskerExample, check_sample_args, num_visible
from .registry import register_masker


@register_masker("block3d")
class BlockMasker3D(Masker):
    """Hides exactly N - round(N(1-ratio)) tokens of a 3-D grid (D,H,W) in cuboids; `max_side` the largest
    cuboid side as a fraction of each grid side."""

    def __init__(self, ratio: float = 0.75, max_side: float = 0.5):
        super().__init__()
        num_visible(4, ratio)
        if not 0.0 < max_side <= 1.0:
            raise ValueError(f"max_side must be in (0, 1], got {max_side!r}")
        self.ratio, self.max_side = ratio, max_side

    @classmethod
    def example(cls, spatial=(14, 14)) -> MaskerExample:
        return MaskerExample(grid=(4, *spatial[-2:]), note="a 3-D grid: each panel is one depth slice")

    def sample(self, batch_size: int, grid, generator: torch.Generator | None = None, device="cpu") -> Mask:
        n = check_sample_args(batch_size, grid)
        if len(grid) != 3:
            raise ValueError(f"block3d masks a 3-D token grid (depth, height, width), got {tuple(grid)}")
        count = n - num_visible(n, self.ratio)
        gen_device = generator.device if generator is not None else "cpu"
        sides = [max(1, math.ceil(self.max_side * g)) for g in grid]
        hidden = torch.zeros(batch_size, *grid, dtype=torch.bool)
        for b in range(batch_size):
            done = 0
            while done < count:
                size = [int(torch.randint(1, s + 1, (1,), generator=generator, device=gen_device)) for s in sides]
                corner = [int(torch.randint(0, g - s + 1, (1,), generator=generator, device=gen_device))
                          for g, s in zip(grid, size)]
                block = torch.zeros(grid, dtype=torch.bool)
                block[tuple(slice(c, c + s) for c, s in zip(corner, size))] = True
                new = (block & ~hidden[b]).flatten()
                fresh = new.nonzero().flatten()[: count - done]  # raster order: the last cuboid is cut
                hidden[b].view(-1)[fresh] = True
                done += len(fresh)
        return Mask.from_bool(hidden.flatten(1).to(device), num_hidden=count)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, max_side={self.max_side}"
