"""CAE (row 5): a latent regressor predicts the hidden tokens' latents from the visible latents (cross-
attention, queries = mask token + position of each hidden token); a decoder reconstructs the hidden
patches from those predicted latents only."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.vit import init_mae_weights, make_blocks
from ..masking.base import Mask
from .mae import gather_tokens
from .base import Decoder


class CrossBlock(nn.Module):
    """Pre-norm cross-attention (queries attend to keys/values) + MLP, as CAE's regressor layers."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.heads = heads
        self.norm_q, self.norm_kv = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.q, self.kv, self.proj = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        self.norm_mlp = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, queries: Tensor, context: Tensor) -> Tensor:
        """queries [B,M,D], context [B,K,D] -> [B,M,D]."""
        b, m, d = queries.shape
        h = self.heads
        q = self.q(self.norm_q(queries)).reshape(b, m, h, d // h).transpose(1, 2)
        kv = self.kv(self.norm_kv(context)).reshape(b, context.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1]).transpose(1, 2).reshape(b, m, d)
        x = queries + self.proj(out)
        return x + self.mlp(self.norm_mlp(x))


class CAEDecoder(Decoder):
    """latents [B,P+Nv,D] -> pixel predictions [B,Np,out] for `mask.predict` (the hidden tokens).

    Works at the encoder's width `dim` (the regressor predicts encoder latents). The regressed
    latents of the last call are kept in `self.regressed` [B,Np,D] for the alignment loss.
    """

    def __init__(self, dim: int = 192, regressor_depth: int = 2, depth: int = 2, heads: int = 4, mlp_ratio: float = 4.0):
        super().__init__()
        self.dim, self.heads, self.learnable_pos = dim, heads, False
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.regressor = nn.ModuleList(CrossBlock(dim, heads, mlp_ratio) for _ in range(regressor_depth))
        self.regressor_norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = make_blocks(dim, depth, heads, mlp_ratio)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pos: nn.Module | None = None
        self.pred: nn.Module | None = None
        self.regressed: Tensor | None = None

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        if in_dim != self.dim:
            raise ValueError(f"CAEDecoder works at the encoder width: dim {self.dim} != encoder width {in_dim}")
        self.pos = position
        self.pred = nn.Linear(self.dim, out_dim)
        self.apply(init_mae_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def regress(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 1) -> Tensor:
        """Visible latents + positions -> predicted latents of the `mask.predict` tokens [B,Np,D]."""
        pos = self.pos(tokens).expand(latents.shape[0], -1, -1)                  # [B,N,D]
        visible = latents[:, num_prefix:] + gather_tokens(pos, mask.keep)
        context = torch.cat([latents[:, :num_prefix], visible], dim=1)
        pos_q = gather_tokens(pos, mask.predict)
        q = self.mask_token + pos_q
        for block in self.regressor:
            q = block(q, torch.cat([context, q], dim=1))
        return self.regressor_norm(q)

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 1) -> Tensor:
        self.regressed = self.regress(latents, mask, tokens, num_prefix)
        x = self.regressed + gather_tokens(self.pos(tokens).expand(latents.shape[0], -1, -1), mask.predict)
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x))
