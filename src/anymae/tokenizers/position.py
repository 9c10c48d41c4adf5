"""Position embeddings: fixed sin-cos tables (MAE, row 0) over 1-D/2-D/3-D grids, or learnable."""
from __future__ import annotations

import torch
from torch import Tensor, nn


def sincos_1d(dim: int, positions: Tensor) -> Tensor:
    """positions [M] -> [M,dim]: half sines, half cosines at geometric frequencies (MAE)."""
    if dim % 2:
        raise ValueError(f"sin-cos position embedding needs an even width, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.double().reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_grid(dim: int, grid: tuple[int, ...]) -> Tensor:
    """[prod(grid),dim] table; the width is split evenly across the grid's axes.

    For 2-D grids this is MAE's `get_2d_sincos_pos_embed` (first half encodes the column index
    w, second half the row h); 3-D grids (video) give separable time/space parts.
    """
    axes = len(grid)
    if axes == 1:
        return sincos_1d(dim, torch.arange(grid[0]))
    if dim % (2 * axes):
        raise ValueError(f"sin-cos embedding over a {axes}-D grid needs width divisible by {2 * axes}, got {dim}")
    coords = torch.meshgrid(*[torch.arange(g) for g in grid], indexing="ij")
    # MAE orders the 2-D halves as (w, h): the last axis first.
    parts = [sincos_1d(dim // axes, c.reshape(-1)) for c in reversed(coords)]
    return torch.cat(parts, dim=1)


class GridPosition(nn.Module):
    """Tokens -> [1,N,dim] table over a fixed grid: sin-cos (frozen) or learnable (init sin-cos).

    `table` [N,dim] replaces MAE's `sincos_grid` layout (e.g. video's separable space/time table).
    """

    def __init__(self, dim: int, grid: tuple[int, ...], learnable: bool = False, table: Tensor | None = None):
        super().__init__()
        table = (sincos_grid(dim, grid) if table is None else table).unsqueeze(0)
        self.grid = tuple(grid)
        if learnable:
            self.table = nn.Parameter(table)
        else:
            self.register_buffer("table", table, persistent=False)

    def forward(self, tokens=None) -> Tensor:
        return self.table
