"""A linear head on the encoder's own visible-token latents, no decoder blocks and no positions:
position prediction (MP3, row 42) and visible-token feature alignment (MaskAlign, row 6; Hybrid, row 36)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..masking.base import Mask
from .mae import gather_tokens
from .base import Decoder


class LinearHead(Decoder):
    """latents [B,P+Nv,D] -> predictions [B,Np,out_dim] for `mask.predict`, which must be visible tokens.

    It adds no position information (MP3 needs that); `dim` is only the width of the position
    table MaskedAutoencoder hands every decoder, which this head ignores.
    """

    learnable_pos = False

    def __init__(self, norm: bool = True):
        super().__init__()
        self.dim = 4
        self.use_norm = norm
        self.norm: nn.Module | None = None
        self.pred: nn.Module | None = None

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        self.norm = nn.LayerNorm(in_dim, eps=1e-6) if self.use_norm else nn.Identity()
        self.pred = nn.Linear(in_dim, out_dim)
        nn.init.xavier_uniform_(self.pred.weight)
        nn.init.zeros_(self.pred.bias)

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 1) -> Tensor:
        visible = latents[:, num_prefix:]                                       # [B,Nv,D] in keep order
        if mask.predict.shape == mask.keep.shape and torch.equal(mask.predict, mask.keep):
            return self.pred(self.norm(visible))
        # predict a subset of the visible tokens: place each visible latent at its token index first
        b, n = mask.restore.shape
        spread = visible.new_zeros(b, n, visible.shape[-1])
        spread.scatter_(1, mask.keep.unsqueeze(-1).expand(-1, -1, visible.shape[-1]), visible)
        return self.pred(self.norm(gather_tokens(spread, mask.predict)))
