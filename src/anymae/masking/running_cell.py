"""Running-cell masking (VideoMAE V2, row 9): the decoder's mask, a cell pattern that shifts each time slot."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import Mask, Masker, check_sample_args, num_visible
from .registry import register_masker
from .tube import masker_example, time_space


@register_masker("running_cell")
class RunningCellMasker(Masker):
    """Tiles the (H, W) grid with `cell` x `cell` cells; in each cell round(ratio * cell^2) positions are hidden.

    The hidden positions are a run of a cyclic queue over the cell (raster order) whose start moves one
    step per time slot, from a random phase per sample: every cell hides the same fraction in every
    slot, and over cell^2 consecutive slots each position is hidden exactly round(ratio * cell^2) times
    (at 50% with 2 x 2 cells, slots t and t+2 are complementary). VideoMAE V2 uses it (50%, 2 x 2) to
    choose which hidden tokens its decoder reconstructs (see `DualMasker`).
    """

    def __init__(self, ratio: float = 0.5, cell: int = 2):
        super().__init__()
        num_visible(4, ratio)  # validates the ratio (a number in (0, 1))
        if isinstance(cell, bool) or not isinstance(cell, int) or cell < 2:
            raise ValueError(f"running_cell: cell must be an integer of at least 2, got {cell!r}")
        hidden = ratio * cell * cell
        if not 0 < round(hidden) < cell * cell or abs(hidden - round(hidden)) > 1e-6:
            raise ValueError(f"running_cell: ratio {ratio} must be k/{cell * cell} with 0 < k < {cell * cell} "
                             f"for {cell}x{cell} cells")
        self.ratio, self.cell, self.per_cell = ratio, cell, int(round(hidden))

    @classmethod
    def example(cls, spatial: tuple[int, int] = (14, 14)):
        even = tuple(max(2, s - s % 2) for s in spatial)  # the default 2x2 cell must tile the grid
        return masker_example((4, *even))

    def hidden_bool(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
                    device="cpu") -> Tensor:
        """-> [B,N] True where hidden, N = T*H*W in (T, H, W) order.

        A grid that the cell does not divide (7 x 7 tokens of a 112-px frame) is tiled and cut at the
        bottom and right edges, so the cut cells hide a phase-dependent share; `sample` refuses such grids
        (a Mask needs equal counts per sample), `DualMasker` evens the counts out itself.
        """
        t, h, w = time_space(grid)
        c = self.cell
        size = c * c
        gen_device = generator.device if generator is not None else device
        phase = torch.randint(0, size, (batch_size,), generator=generator, device=gen_device).to(device)
        rows, cols = torch.arange(h, device=device) % c, torch.arange(w, device=device) % c
        within = (rows[:, None] * c + cols[None, :]).reshape(1, 1, h * w)          # place in the cell [1,1,HW]
        slot = torch.arange(t, device=device).reshape(1, t, 1)                    # time slot [1,T,1]
        queue = (within + slot + phase.reshape(-1, 1, 1)) % size                  # [B,T,HW]
        return (queue < self.per_cell).reshape(batch_size, t * h * w)

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> Mask:
        check_sample_args(batch_size, grid)
        _, h, w = time_space(grid)
        if h % self.cell or w % self.cell:
            raise ValueError(f"running_cell: token grid {h}x{w} is not divisible by the {self.cell}x{self.cell} cell")
        t, h, w = time_space(grid)
        return Mask.from_bool(self.hidden_bool(batch_size, grid, generator, device),
                              num_hidden=t * (h * w // (self.cell * self.cell)) * self.per_cell)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, cell={self.cell}"
