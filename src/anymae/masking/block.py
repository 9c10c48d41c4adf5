"""Blockwise masking (BEiT's block-wise masking; SimMIM-style square blocks with min=max area, aspect 1).

Rectangles are added one at a time until enough tokens are hidden, as BEiT does: each has an area
drawn uniformly in [min_area, min(max_area, tokens still to hide)] and a log-uniform aspect ratio
in [aspect, 1/aspect], snapped to the nearest whole-token shape inside those bounds; a rectangle
that would overshoot the count is redrawn (up to `retries` times). To hide exactly the asked count,
the rectangle that reaches it is cut in raster order, so every hidden token lies in a drawn
rectangle and all but the last rectangle are hidden whole.

Drawing rectangles one at a time is a loop, so the masker draws a bank of such masks once per
(grid, count) (fixed `bank_seed`) and each step picks bank entries under a random flip/transpose
(which keeps rectangles and their bounds): a step costs an index gather, as random masking does.
`bank=0` draws fresh masks every step instead.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import Mask, Masker, num_visible, uniform, check_sample_args
from .registry import register_masker


def valid_shapes(grid: tuple[int, int], min_area: int, max_area: int, aspect: float) -> Tensor:
    """[S,2] every (h, w) with h <= H, w <= W, min_area <= h*w <= max_area, aspect <= h/w <= 1/aspect."""
    h, w = grid
    hs, ws = torch.meshgrid(torch.arange(1, h + 1), torch.arange(1, w + 1), indexing="ij")
    hs, ws = hs.flatten(), ws.flatten()
    area, ratio = hs * ws, hs.double() / ws.double()
    eps = 1e-9
    ok = (area >= min_area) & (area <= max_area) & (ratio >= aspect - eps) & (ratio <= 1.0 / aspect + eps)
    return torch.stack([hs[ok], ws[ok]], dim=1)


@dataclass
class BlockDraw:
    """rank [B,N]: the order in which tokens were covered (hidden = rank < count);
    rects [B,T,4] (top, left, h, w) of every rectangle drawn; accepted [B,T] which were kept."""

    rank: Tensor
    rects: Tensor
    accepted: Tensor


def draw_blocks(batch_size: int, grid: tuple[int, int], num_hidden: int, min_area: int = 16,
                max_area: int | None = None, aspect: float = 0.3, generator: torch.Generator | None = None,
                device="cpu", retries: int = 10) -> BlockDraw:
    """BEiT's sequential rectangle drawing, one step for the whole batch at a time (see module doc)."""
    h, w = grid
    n = h * w
    min_area = max(1, min(min_area, num_hidden))
    max_area = num_hidden if max_area is None else max(min_area, min(max_area, n))
    shapes = valid_shapes(grid, min_area, max_area, aspect).to(device)
    if shapes.shape[0] == 0:
        raise ValueError(f"block masker: no rectangle of area {min_area}..{max_area} and aspect "
                         f"{aspect}..{1 / aspect:.2f} fits a {h}x{w} token grid")
    areas = shapes[:, 0] * shapes[:, 1]
    log_area = areas.double().log()
    log_ratio = (shapes[:, 0].double() / shapes[:, 1].double()).log()
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    covered = torch.zeros(batch_size, n, dtype=torch.bool, device=device)
    rank = torch.full((batch_size, n), -1, dtype=torch.long, device=device)
    count = torch.zeros(batch_size, dtype=torch.long, device=device)
    fails = torch.zeros(batch_size, dtype=torch.long, device=device)
    rects, accepted = [], []
    for _ in range(4 * n + 8 * retries):
        active = count < num_hidden
        if not bool(active.any()):
            break
        remaining = num_hidden - count
        hi = remaining.clamp(max=max_area)
        u = uniform((batch_size, 4), generator, device).double()
        target_area = min_area + u[:, 0] * (hi.clamp(min=min_area) - min_area)
        target_log_ratio = math.log(aspect) * (1.0 - 2.0 * u[:, 1])
        allowed = areas[None, :] <= hi[:, None]
        allowed |= ~allowed.any(1, keepdim=True)  # nothing small enough: any shape, cut below
        dist = (log_area[None] - target_area.log()[:, None]) ** 2 + (log_ratio[None] - target_log_ratio[:, None]) ** 2
        pick = dist.masked_fill(~allowed, math.inf).argmin(1)
        bh, bw = shapes[pick, 0], shapes[pick, 1]
        top = (u[:, 2] * (h - bh + 1)).long().clamp(max=h - bh)
        left = (u[:, 3] * (w - bw + 1)).long().clamp(max=w - bw)
        in_rows = (rows[None] >= top[:, None]) & (rows[None] < (top + bh)[:, None])
        in_cols = (cols[None] >= left[:, None]) & (cols[None] < (left + bw)[:, None])
        inside = (in_rows[:, :, None] & in_cols[:, None, :]).flatten(1)
        new = inside & ~covered
        n_new = new.sum(1)
        ok = active & (n_new > 0) & ((n_new <= remaining) | (fails >= retries))
        fails = torch.where(ok, 0, torch.where(active, fails + 1, fails))
        position = torch.cumsum(new, dim=1) - 1  # raster order of the newly covered tokens
        rank = torch.where(ok[:, None] & new, count[:, None] + position, rank)
        covered |= ok[:, None] & inside
        count = count + torch.where(ok, n_new, 0)
        rects.append(torch.stack([top, left, bh, bw], dim=1))
        accepted.append(ok)
    if bool((count < num_hidden).any()):
        raise RuntimeError("block masker: rectangles did not reach the hidden count")  # bounded loop guard
    # tokens no rectangle reached are kept, in random order after the covered ones
    key = torch.where(rank >= 0, rank.double(), n + uniform((batch_size, n), generator, device).double())
    rank = torch.argsort(torch.argsort(key, dim=1), dim=1)
    return BlockDraw(rank, torch.stack(rects, 1), torch.stack(accepted, 1))


def dihedral_perms(grid: tuple[int, int], device="cpu") -> Tensor:
    """[T,N] source index of each output token under flips (and transposes on square grids)."""
    h, w = grid
    r, c = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    out = []
    for flip_r in (False, True):
        for flip_c in (False, True):
            rr, cc = (h - 1 - r if flip_r else r), (w - 1 - c if flip_c else c)
            out.append((rr * w + cc).flatten())
            if h == w:
                out.append((cc * w + rr).flatten())
    return torch.stack(out)


def mask_from_rank(rank: Tensor, num_hidden: int) -> Mask:
    """rank [B,N] a permutation per sample; tokens ranked below `num_hidden` are hidden. No sort needed:
    kept tokens go first in rank order, then the hidden ones in rank order."""
    n = rank.shape[1]
    num_keep = n - num_hidden
    hidden_bool = rank < num_hidden
    position = torch.where(hidden_bool, rank + num_keep, rank - num_hidden)  # place in cat(keep, hidden)
    order = torch.empty_like(rank).scatter_(1, position, torch.arange(n, device=rank.device).expand_as(rank))
    keep, hidden = order[:, :num_keep], order[:, num_keep:]
    return Mask(keep=keep, hidden=hidden, restore=position, bool=hidden_bool, predict=hidden)


@functools.lru_cache(maxsize=32)
def block_bank(grid: tuple[int, int], num_hidden: int, min_area: int, max_area: int | None, aspect: float,
               count: int, seed: int) -> Tensor:
    """`count` block masks' ranks [count,N] drawn with generator seed `seed` (cached per settings)."""
    return draw_blocks(count, grid, num_hidden, min_area, max_area, aspect, torch.Generator().manual_seed(seed)).rank


@register_masker("block")
class BlockMasker(Masker):
    """Hidden set made of rectangles (BEiT block-wise masking), exact count; 2-D token grids.

    min_area / max_area: rectangle area bounds in tokens (BEiT: 16 / no bound); aspect: h/w bounds
    [aspect, 1/aspect] (BEiT: 0.3). bank: masks drawn once per (grid, count) and reused under random
    flips (0: draw fresh every step); bank_seed fixes the bank.
    """

    def __init__(self, ratio: float = 0.75, min_area: int = 16, max_area: int | None = None, aspect: float = 0.3,
                 bank: int = 1024, bank_seed: int = 0):
        super().__init__()
        num_visible(4, ratio)
        if not 0.0 < aspect <= 1.0:
            raise ValueError(f"block masker: aspect must be in (0, 1], got {aspect}")
        if min_area < 1 or (max_area is not None and max_area < min_area):
            raise ValueError(f"block masker: need 1 <= min_area <= max_area, got {min_area}, {max_area}")
        if bank < 0:
            raise ValueError(f"block masker: bank must be >= 0, got {bank}")
        self.ratio, self.min_area, self.max_area, self.aspect = ratio, min_area, max_area, aspect
        self.bank, self.bank_seed = bank, bank_seed
        self._on_device: dict[tuple, tuple[Tensor, Tensor]] = {}

    def draw(self, batch_size: int, grid: tuple[int, int], num_hidden: int, generator, device) -> BlockDraw:
        return draw_blocks(batch_size, grid, num_hidden, self.min_area, self.max_area, self.aspect, generator, device)

    def bank_ranks(self, grid: tuple[int, int], num_hidden: int, device) -> tuple[Tensor, Tensor]:
        """(ranks [bank,N], perms [T,N]) for this grid and count, drawn on first use (shared by maskers
        with the same settings; each distinct count a ratio schedule reaches draws its own bank once)."""
        key = (tuple(grid), num_hidden, str(device))
        if key not in self._on_device:
            ranks = block_bank(tuple(grid), num_hidden, self.min_area, self.max_area, self.aspect, self.bank,
                               self.bank_seed)
            self._on_device[key] = (ranks.to(device), dihedral_perms(grid, device))
        return self._on_device[key]

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> Mask:
        check_sample_args(batch_size, grid)
        if len(grid) != 2:
            raise ValueError(f"block masker works on 2-D token grids, got grid {grid}")
        n = math.prod(grid)
        num_hidden = n - num_visible(n, self.ratio)
        if self.bank == 0:
            return mask_from_rank(self.draw(batch_size, tuple(grid), num_hidden, generator, device).rank, num_hidden)
        ranks, perms = self.bank_ranks(tuple(grid), num_hidden, device)
        u = uniform((batch_size, 2), generator, device)
        which = (u[:, 0] * ranks.shape[0]).long().clamp_max(ranks.shape[0] - 1)
        turn = (u[:, 1] * perms.shape[0]).long().clamp_max(perms.shape[0] - 1)
        rank = ranks[which[:, None], perms[turn]]  # [B,N]: bank entry seen under a flip/transpose
        return mask_from_rank(rank, num_hidden)

    def extra_repr(self) -> str:
        return (f"ratio={self.ratio}, min_area={self.min_area}, max_area={self.max_area}, aspect={self.aspect}, "
                f"bank={self.bank}")
