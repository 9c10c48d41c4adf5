"""Sequences of precomputed segment embeddings (LV-MAE, PAPERS.md row 14): [B,T,D_in] (e.g. one embedding per
short clip of a long video, from an off-the-shelf or anymae encoder) -> T tokens with a 1-D sin-cos position.

The tokens' values are the embeddings themselves, so a masked-embedding autoencoder reconstructs hidden segment
embeddings from the visible ones: long-range structure is learnt over the segments, not over frames.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_finite
from .position import GridPosition


class EmbeddingSequenceTokenizer(Tokenizer):
    """Embedding sequences [B,T,D_in] -> T tokens: values [B,T,D_in], embed = Linear(D_in, dim), grid (T,)."""

    def __init__(self, length: int = 64, in_dim: int = 768, dim: int = 768, learnable_pos: bool = False):
        super().__init__()
        if length < 2 or in_dim < 1:
            raise ValueError(f"an embedding sequence needs at least 2 segments and 1 feature, got {length} x {in_dim}")
        self.length, self.in_dim, self.dim = length, in_dim, dim
        self.grid = (length,)
        self.patch_dim = in_dim
        self.proj = nn.Linear(in_dim, dim)
        nn.init.xavier_uniform_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.pos = GridPosition(dim, self.grid, learnable=learnable_pos)

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"length": 8, "in_dim": 12, "dim": 16}, {"length": 3, "in_dim": 1, "dim": 8}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.length, self.in_dim, generator=generator)

    def check_input(self, x) -> None:
        if not isinstance(x, Tensor):
            raise ValueError(f"expected embedding sequences as a torch.Tensor [B,T,D], got {type(x).__name__}")
        if x.ndim != 3 or tuple(x.shape[1:]) != (self.length, self.in_dim):
            raise ValueError(f"expected embedding sequences [B,{self.length},{self.in_dim}] (segments, features), "
                             f"got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"expected floating-point embeddings, got {x.dtype}")
        if x.shape[0] == 0:
            raise ValueError("expected at least one embedding sequence, got an empty batch")
        check_finite(x, "embedding sequences")

    def patchify(self, x: Tensor) -> Tensor:
        return x

    def unpatchify(self, values: Tensor) -> Tensor:
        return values

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return GridPosition(dim, self.grid, learnable=learnable)

    def forward(self, x: Tensor) -> Tokens:
        self.check_input(x)
        x = x.to(self.proj.weight.dtype)
        return Tokens(values=x, embed=self.proj(x), pos=self.pos(), grid=self.grid)

    def extra_repr(self) -> str:
        return f"length={self.length}, in_dim={self.in_dim}"
