"""CRATE-MAE's decoder (PAPERS.md row 8): mask tokens as MAE's decoder, CRATE's inverted layers as blocks."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..encoders.crate import crate_decoder_blocks, crate_init
from ..masking.base import Mask
from ..tokenizers.base import gather_tokens
from .base import Decoder, decoder_tokens


class CRATEDecoder(Decoder):
    """latents [B,P+Nv,E] -> predictions [B,Np,out_dim] for `mask.predict`.

    As `MAEDecoder`: the latents are mapped to the decoder width (identity when the widths are equal, as in
    CRATE-MAE, whose decoder has no input projection), a learnable mask token stands for each hidden token, the
    decoder's fixed position table is added; then `depth` `CRATEDecoderBlock`s (D z, then z - MSSA(z)), a norm
    and a linear prediction head.
    """

    def __init__(self, dim: int = 768, depth: int = 12, heads: int = 12, norm_eps: float = 1e-6):
        super().__init__()
        self.dim, self.depth, self.heads = dim, depth, heads
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = crate_decoder_blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.embed: nn.Module | None = None
        self.pred: nn.Module | None = None
        self.pos: nn.Module | None = None

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        self.embed = nn.Identity() if in_dim == self.dim else nn.Linear(in_dim, self.dim)
        self.pred = nn.Linear(self.dim, out_dim)
        self.pos = position
        self.apply(crate_init)
        for block in self.blocks:  # dictionaries start as CRATE's (kaiming-uniform), not xavier
            nn.init.kaiming_uniform_(block.dictionary.weight)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 1) -> Tensor:
        x = self.embed(latents)
        x = decoder_tokens(x, self.pos(tokens), self.mask_token, mask.keep, mask.hidden, num_prefix)  # [B,P+Nv+Nh,Dd]
        for block in self.blocks:
            x = block(x)
        x = x[:, num_prefix:]                                                      # [visible, hidden]
        if mask.predict is not mask.hidden:  # token t sits at restore[t] in cat(visible, hidden)
            x = gather_tokens(x, mask.restore.gather(1, mask.predict))
        else:
            x = x[:, mask.keep.shape[1]:]
        return self.pred(self.norm(x))
