"""Position tables on load: resampling to another grid (as timm's `resample_abs_pos_embed`), sin-cos checks."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..tokenizers.position import sincos_grid

SINCOS_TOLERANCE = 1e-5  # a stored table this close to MAE's sin-cos is MAE's sin-cos


def square_grid(rows: int, what: str) -> tuple[int, int]:
    """rows -> (g, g) when rows is a perfect square, else ValueError naming `what`."""
    side = math.isqrt(rows)
    if side * side != rows:
        raise ValueError(f"{what}: {rows} positions are not a square grid; give the checkpoint's image size "
                         f"(--source-size HxW)")
    return side, side


def resample_grid(table: Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]) -> Tensor:
    """table [1,Ho*Wo,D] -> [1,Hn*Wn,D] by timm's bicubic, antialiased resampling (non-square grids too)."""
    from timm.layers import resample_abs_pos_embed
    if tuple(old_grid) == tuple(new_grid):
        return table
    if table.shape[1] != old_grid[0] * old_grid[1]:
        raise ValueError(f"position table has {table.shape[1]} rows, not {old_grid[0]}x{old_grid[1]}")
    out = resample_abs_pos_embed(table.float(), new_size=list(new_grid), old_size=list(old_grid),
                                 num_prefix_tokens=0)
    return out.to(table.dtype)


def sincos_distance(table: Tensor, grid: tuple[int, int]) -> float:
    """Largest |table - MAE's 2-D sin-cos table| over the grid; inf when the shapes differ."""
    dim = table.shape[-1]
    if table.shape[-2] != grid[0] * grid[1] or dim % 4:
        return math.inf
    return float((table.reshape(-1, dim).float() - sincos_grid(dim, tuple(grid))).abs().max())


def is_sincos(table: Tensor, grid: tuple[int, int]) -> bool:
    return sincos_distance(table, grid) <= SINCOS_TOLERANCE


def zeros_row(table: Tensor) -> Tensor:
    """[1,N,D] -> [1,1+N,D] with a zero first row (MAE's cls position)."""
    return torch.cat([table.new_zeros(1, 1, table.shape[-1]), table], dim=1)
