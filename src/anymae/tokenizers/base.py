"""The Tokens contract shared by every tokenizer (DESIGN.md, the one data flow)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn



def gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """x [B,N,D], index [B,M] -> [B,M,D]."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))

@dataclass
class Tokens:
    """What a tokenizer gives: one row of tokens per sample.

    values  [B,N,P]  raw per-token values (patch pixels, point groups, ...) that targets read
    embed   [B,N,D]  token embeddings, without position
    pos     [B|1,N,D] position embeddings in the encoder's width (zeros when a recipe has none)
    grid    the token grid's shape, e.g. (H/p, W/p) or (T/t, H/p, W/p); prod(grid) == N
    group   [N] optional group id per token (channel / modality), None when all tokens are alike
    coords  [B|1,N,k] optional per-token coordinates (point centres) that position modules read
    """

    values: Tensor
    embed: Tensor
    pos: Tensor
    grid: tuple[int, ...]
    group: Tensor | None = None
    coords: Tensor | None = None
    extra: dict = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return self.embed.shape[0]

    @property
    def num_tokens(self) -> int:
        return self.embed.shape[1]


class Tokenizer(nn.Module):
    """Base class: `forward(x) -> Tokens`, `patchify(x) -> [B,N,P]`, `unpatchify(values) -> x`.

    `position(dim, learnable)` returns a module mapping Tokens -> [B|1,N,dim], which decoders
    use to place their own tokens (MAE gives the decoder its own fixed sin-cos table).
    """

    dim: int
    grid: tuple[int, ...]
    patch_dim: int

    @property
    def num_tokens(self) -> int:
        n = 1
        for g in self.grid:
            n *= g
        return n

    def patchify(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def unpatchify(self, values: Tensor) -> Tensor:
        raise NotImplementedError

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        raise NotImplementedError

    def check_input(self, x: Tensor) -> None:
        """Raise ValueError naming the problem when `x` cannot be tokenized."""

    @classmethod
    def examples(cls) -> list[dict]:
        """Constructor arguments of small valid instances, for the property tests (tests/test_reliability.py).

        Every tokenizer declares at least one, and `example_input` builds a valid batch for it.
        """
        return []

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        """A valid random input batch of `batch_size` samples for this instance (what `forward` takes)."""
        raise NotImplementedError(f"{type(self).__name__} declares no example input")


def check_images(x, image_size: tuple[int, int], channels: int | None = None) -> None:
    """ValueError naming the problem unless x is a finite float tensor [B,C,H,W] of `image_size`
    (and `channels` channels when given)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"expected images as a torch.Tensor [B,C,H,W], got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"expected images [B,C,H,W], got a tensor of shape {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"expected {channels} channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    if tuple(x.shape[-2:]) != tuple(image_size):
        raise ValueError(f"expected images of {image_size[0]}x{image_size[1]}, got {x.shape[-2]}x{x.shape[-1]}")
    if not x.is_floating_point():
        raise ValueError(f"expected floating-point images, got {x.dtype}")
    check_finite(x, "images")


def check_finite(x: Tensor, what: str = "input") -> None:
    """ValueError when `x` holds NaN or Inf (one device sync)."""
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{what} holds {bad} NaN/Inf value(s) of {x.numel()} (shape {tuple(x.shape)})")
