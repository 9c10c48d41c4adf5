"""Dynamic channel-patch masking (ChA-MAEViT, row 45): hide whole channels and patches within channels."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Mask, Masker, num_visible, uniform, check_sample_args
from .registry import register_masker


@register_masker("channel_patch")
class ChannelPatchMasker(Masker):
    """Tokens on a (C, H/p, W/p) grid, channel-major (ChannelTokenizer). Each sample hides exactly
    N - round(N(1-ratio)) tokens: first k whole channels, k drawn per sample uniformly from
    0..k_max (k_max = floor(C * channel_ratio), at most C-1 and no more than the hidden budget holds),
    then random patches of the other channels until the budget is spent. Every sample keeps at
    least one token, so the model always sees something and must rebuild missing channels from
    the ones it sees.
    """

    def __init__(self, ratio: float = 0.75, channel_ratio: float = 0.5):
        super().__init__()
        num_visible(4, ratio)
        if not 0.0 <= channel_ratio < 1.0:
            raise ValueError(f"channel_ratio must be in [0, 1), got {channel_ratio}")
        self.ratio, self.channel_ratio = ratio, channel_ratio

    @classmethod
    def example(cls, spatial: tuple[int, int] = (14, 14)):
        """For the mask gallery (`MaskerExample` protocol of masking/base.py): 4 channels side by side."""
        from .base import MaskerExample
        return MaskerExample(grid=(4, *spatial), variants=[{"channel_ratio": 0.5}, {"channel_ratio": 0.0}],
                             note="4 channels of one image, one panel each")

    def max_hidden_channels(self, channels: int, per_channel: int, hidden: int) -> int:
        return max(0, min(int(math.floor(channels * self.channel_ratio)), channels - 1, hidden // per_channel))

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> Mask:
        check_sample_args(batch_size, grid)
        if len(grid) != 3:
            raise ValueError(f"channel_patch masking needs a (channels, rows, cols) token grid, got {grid}")
        c, per_channel = grid[0], grid[1] * grid[2]
        n = c * per_channel
        keep = num_visible(n, self.ratio)
        k_max = self.max_hidden_channels(c, per_channel, n - keep)
        k = (uniform((batch_size, 1), generator, device) * (k_max + 1)).floor().clamp(max=k_max)  # [B,1]
        channel_rank = torch.argsort(torch.argsort(uniform((batch_size, c), generator, device), dim=1), dim=1)
        hidden_channel = (channel_rank < k).float()                                      # [B,C]
        score = uniform((batch_size, n), generator, device) + hidden_channel.repeat_interleave(per_channel, dim=1)
        return Mask.from_order(torch.argsort(score, dim=1), keep)

    def hidden_channels(self, mask: Mask, grid: tuple[int, ...]) -> Tensor:
        """[B,C] True where every token of a channel is hidden."""
        return mask.bool.view(mask.bool.shape[0], grid[0], -1).all(-1)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, channel_ratio={self.channel_ratio}"
