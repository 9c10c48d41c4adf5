"""Tube masking (VideoMAE, row 12): one random spatial mask, repeated in every time slot."""
from __future__ import annotations

import torch

from .base import Mask, Masker, MaskerExample, num_visible, uniform, check_sample_args
from .registry import register_masker


def time_space(grid: tuple[int, ...]) -> tuple[int, int, int]:
    """A token grid -> (time slots, height, width); a 2-D grid is one time slot."""
    if len(grid) == 3:
        return tuple(int(g) for g in grid)
    if len(grid) == 2:
        return 1, int(grid[0]), int(grid[1])
    raise ValueError(f"expected a (T, H, W) or (H, W) token grid, got {tuple(grid)}")


def masker_example(grid: tuple[int, ...], **extra) -> MaskerExample:
    """The mask gallery's example for a (T, H, W) masker."""
    return MaskerExample(grid=tuple(grid), **extra)


@register_masker("tube")
class TubeMasker(Masker):
    """Each sample hides the same round(HW * ratio) spatial positions in all T time slots (a tube).

    Video's temporal redundancy lets a frame-wise random mask be filled in from the next frame;
    a tube hides the same place through time, so the model has to reason about content instead.
    Works on (T, H, W) token grids; on a 2-D grid it is random masking.
    """

    def __init__(self, ratio: float = 0.9):
        super().__init__()
        num_visible(4, ratio)  # validates the ratio
        self.ratio = ratio

    @classmethod
    def example(cls, spatial: tuple[int, int] = (14, 14)):
        return masker_example((4, *spatial))

    def spatial_hidden(self, batch_size: int, height: int, width: int, generator=None, device="cpu"):
        """-> [B,H*W] True where the tube is hidden."""
        s = height * width
        order = torch.argsort(uniform((batch_size, s), generator, device), dim=1)
        hidden = torch.ones(batch_size, s, dtype=torch.bool, device=device)
        hidden.scatter_(1, order[:, :num_visible(s, self.ratio)], False)
        return hidden

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> Mask:
        check_sample_args(batch_size, grid)
        t, h, w = time_space(grid)
        hidden = self.spatial_hidden(batch_size, h, w, generator, device)
        hidden_per_slot = h * w - num_visible(h * w, self.ratio)
        return Mask.from_bool(hidden.unsqueeze(1).expand(-1, t, -1).reshape(batch_size, t * h * w),
                              num_hidden=t * hidden_per_slot)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}"
