"""The Mask contract and the Masker base class (MAE's `random_masking`, row 0)."""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import torch
from torch import Tensor, nn


@dataclass
class Mask:
    """Which tokens each sample keeps and hides; index tensors, all sorted by the masker's order.

    keep     [B,Nv] indices of visible tokens (the encoder sees these, in this order)
    hidden   [B,Nh] indices of hidden tokens
    restore  [B,N]  position of each original token in cat(keep, hidden): gathering
                    cat(visible, hidden) with it gives back the original order
    bool     [B,N]  True where hidden
    predict  [B,Np] tokens the decoder predicts and the loss covers (default: `hidden`;
                    a subset under VideoMAE V2's decoder masking)
    """

    keep: Tensor
    hidden: Tensor
    restore: Tensor
    bool: Tensor
    predict: Tensor

    @property
    def num_visible(self) -> int:
        return self.keep.shape[1]

    @property
    def num_tokens(self) -> int:
        return self.restore.shape[1]

    @classmethod
    def from_order(cls, order: Tensor, num_keep: int) -> "Mask":
        """order [B,N] a permutation per sample: its first `num_keep` entries are kept."""
        keep, hidden = order[:, :num_keep], order[:, num_keep:]
        restore = torch.argsort(order, dim=1)
        hidden_bool = torch.ones_like(order, dtype=torch.bool)
        hidden_bool.scatter_(1, keep, False)
        return cls(keep=keep, hidden=hidden, restore=restore, bool=hidden_bool, predict=hidden)

    @classmethod
    def from_bool(cls, hidden_bool: Tensor, generator: torch.Generator | None = None) -> "Mask":
        """hidden_bool [B,N], the same count of True per row -> Mask (kept first, each set in index order)."""
        counts = hidden_bool.sum(1)
        if counts.numel() and not bool((counts == counts[0]).all()):
            raise ValueError(f"every sample must hide the same number of tokens, got counts {counts.tolist()}")
        num_keep = hidden_bool.shape[1] - int(counts[0]) if counts.numel() else 0
        # stable sort puts kept (False) before hidden (True), each in index order
        order = torch.sort(hidden_bool.to(torch.int8), dim=1, stable=True).indices
        return cls.from_order(order, num_keep)

    def with_predict(self, predict: Tensor) -> "Mask":
        return Mask(self.keep, self.hidden, self.restore, self.bool, predict)

    def to(self, device) -> "Mask":
        return Mask(*(t.to(device) for t in (self.keep, self.hidden, self.restore, self.bool, self.predict)))


def num_visible(num_tokens: int, ratio: float) -> int:
    """Tokens kept at a mask ratio: round(N * (1 - ratio)), at least 1 and at most N - 1 (MAE's `len_keep`).

    At least one token is hidden, so there is always something to predict (an empty loss is NaN).
    """
    if isinstance(ratio, bool) or not isinstance(ratio, Real) or not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must be a number in (0, 1), got {ratio!r}")
    if num_tokens < 2:
        raise ValueError(f"cannot mask {num_tokens} token(s): masking needs at least 2 (one seen, one hidden)")
    return min(num_tokens - 1, max(1, int(round(num_tokens * (1.0 - ratio)))))


def check_sample_args(batch_size: int, grid) -> int:
    """Validate a masker's `sample(batch_size, grid)` arguments -> the token count N (ValueError otherwise)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 0:
        raise ValueError(f"batch size must be a whole number >= 0, got {batch_size!r}")
    sizes = tuple(grid) if isinstance(grid, (tuple, list, torch.Size)) else ()
    if not sizes or not all(isinstance(g, Integral) and not isinstance(g, bool) and g >= 1 for g in sizes):
        raise ValueError(f"token grid must be a non-empty tuple of whole numbers >= 1, got {grid!r}")
    n = 1
    for g in sizes:
        n *= int(g)
    return n


class Masker(nn.Module):
    """Base: `forward(tokens, generator) -> Mask`. Maskers hold no learnable state unless stated."""

    ratio: float

    def forward(self, tokens, generator: torch.Generator | None = None, scores: Tensor | None = None) -> Mask:
        return self.sample(tokens.batch_size, tokens.grid, generator=generator, device=tokens.embed.device)

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> Mask:
        raise NotImplementedError


def uniform(shape, generator: torch.Generator | None, device) -> Tensor:
    """Uniform noise drawn from `generator` (on its device), moved to `device`."""
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)
