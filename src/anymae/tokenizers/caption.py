"""Captions of a fixed word count (M3AE, row 43): word ids -> embeddings + 1-D sin-cos positions, the text part
of an image-text token sequence (`MultiModalTokenizer`)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens
from .position import GridPosition


class CaptionTokenizer(Tokenizer):
    """ids [B,L] (long, 0..vocab_size-1) -> Tokens: values = ids as float [B,L,1] (what a class target reads),
    embed = a word embedding [B,L,D] (M3AE's `text_embedding`, normal init of std 1), pos = a fixed 1-D sin-cos
    table [1,L,D] (M3AE's `get_1d_sincos_pos_embed`). Every caption has `length` words: no padding."""

    patch_dim = 1
    channels = 1

    def __init__(self, vocab_size: int, length: int, dim: int):
        super().__init__()
        if vocab_size < 2 or length < 1:
            raise ValueError(f"a caption tokenizer needs vocab_size >= 2 and length >= 1, got {vocab_size}, {length}")
        self.vocab_size, self.length, self.dim = vocab_size, length, dim
        self.grid = (length,)
        self.image_size = (length, 1)  # not an image: the caption's shape, for tools that ask every part
        self.word = nn.Embedding(vocab_size, dim)
        nn.init.normal_(self.word.weight, std=1.0)
        self.pos = GridPosition(dim, self.grid)

    def check_input(self, ids) -> None:
        if not isinstance(ids, Tensor) or ids.ndim != 2 or ids.is_floating_point():
            raise ValueError(f"expected caption word ids [B,L] (integers), got {getattr(ids, 'shape', type(ids))}")
        if ids.shape[1] != self.length:
            raise ValueError(f"captions of {ids.shape[1]} words; this model reads {self.length}")
        if ids.numel() and bool(((ids < 0) | (ids >= self.vocab_size)).any()):
            raise ValueError(f"caption word ids outside the vocabulary [0, {self.vocab_size})")

    def patchify(self, ids: Tensor) -> Tensor:
        return ids.float().unsqueeze(-1)

    def unpatchify(self, values: Tensor) -> Tensor:
        """[B,L,1] -> ids [B,L] (long)."""
        return values[..., 0].round().long()

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return GridPosition(dim, self.grid, learnable=learnable)

    def forward(self, ids: Tensor) -> Tokens:
        self.check_input(ids)
        return Tokens(values=self.patchify(ids), embed=self.word(ids), pos=self.pos(), grid=self.grid)

    @classmethod
    def examples(cls) -> list[dict]:
        return [dict(vocab_size=20, length=6, dim=16)]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randint(0, self.vocab_size, (batch_size, self.length), generator=generator)
