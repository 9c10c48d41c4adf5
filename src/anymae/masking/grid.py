"""Grid-wise sampling (MAE row 0, its regular-sampling ablation): keep one token of every stride^d block."""
from __future__ import annotations

import math

import torch

from .base import Mask, Masker, check_sample_args, num_visible, uniform
from .registry import register_masker


def lattice_shape(grid: tuple[int, ...], stride: tuple[int, ...]) -> tuple[int, ...]:
    """Lattice points per dim: floor(G / s), at least 1."""
    return tuple(max(1, g // s) for g, s in zip(grid, stride))


def lattice_strides(ratio: float, ndim: int) -> tuple[int, ...]:
    """Strides (1..4 per dim, not all 1) whose ratio 1 - 1/prod(s) is nearest `ratio`; ties: the most even."""
    import itertools
    best = min((s for s in itertools.product(range(1, 5), repeat=ndim) if math.prod(s) > 1),
               key=lambda s: (abs(1 - 1 / math.prod(s) - ratio), max(s) - min(s), s))
    return tuple(sorted(best))  # larger strides on the last (spatial) dims


@register_masker("grid")
class GridMasker(Masker):
    """The kept set is a regular lattice: every `stride`-th token along each dim, at a random offset per sample.

    stride: int or one per grid dim; None picks the strides (1..4 per dim, as even as possible) whose
    lattice ratio 1 - 1/prod(s) is nearest `ratio`, so ratio 0.75 on a 2-D grid keeps one token of
    every 2x2 block (the MAE paper's grid sampling) and 0.5 keeps every other row.
    Along a dim of G tokens the lattice has floor(G/s) points, so every sample keeps the same count;
    the offset is uniform over the positions that fit that many points. The hidden count is
    N - prod(floor(G/s)), which equals the ratio only when it is a lattice ratio (1 - 1/s^d).
    """

    def __init__(self, ratio: float = 0.75, stride: int | list[int] | None = None):
        super().__init__()
        num_visible(4, ratio)  # validates the ratio (a number in (0, 1))
        if stride is not None:
            strides = [stride] if isinstance(stride, int) else list(stride)
            if any((not isinstance(s, int)) or s < 1 for s in strides):
                raise ValueError(f"grid masker: stride must be positive integers, got {stride}")
        self.ratio, self.stride = ratio, stride

    def strides(self, ndim: int) -> tuple[int, ...]:
        if self.stride is None:
            return lattice_strides(self.ratio, ndim)
        strides = [self.stride] if isinstance(self.stride, int) else list(self.stride)
        if len(strides) == 1:
            strides = strides * ndim
        if len(strides) != ndim:
            raise ValueError(f"grid masker: {len(strides)} strides for a {ndim}-D token grid")
        return tuple(strides)

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> Mask:
        check_sample_args(batch_size, grid)
        strides = self.strides(len(grid))
        points = lattice_shape(grid, strides)
        if math.prod(points) >= math.prod(grid):
            raise ValueError(f"grid masker: stride {strides} hides nothing on a {grid} token grid")
        # coordinates of the lattice at offset 0, flattened to token indices [M]
        axes = [torch.arange(k, device=device) * s for k, s in zip(points, strides)]
        coords = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(grid))  # [M,d]
        # random offset per sample along each dim, within the room the lattice leaves
        room = torch.tensor([g - s * (k - 1) for g, s, k in zip(grid, strides, points)], device=device)
        offsets = (uniform((batch_size, len(grid)), generator, device) * room).long().clamp_max(room - 1)
        coords = coords.unsqueeze(0) + offsets.unsqueeze(1)  # [B,M,d]
        place = torch.tensor([math.prod(grid[i + 1:]) for i in range(len(grid))], device=device)
        keep = (coords * place).sum(-1)  # [B,M]
        hidden = torch.ones(batch_size, math.prod(grid), dtype=torch.bool, device=device)
        hidden.scatter_(1, keep, False)
        return Mask.from_bool(hidden, num_hidden=math.prod(grid) - math.prod(points))

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, stride={self.stride}"
