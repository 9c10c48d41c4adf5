"""MemMC-MAE's decoder (Tian et al. 2022, PAPERS.md row 19): multi-level cross-attention.

The decoder runs on every token (visible latents and mask tokens, with its own positions, as MAE's);
each block has self-attention, then cross-attention from its tokens to the visible tokens of *every*
encoder level (shallow to deep), the levels' answers combined by learned sigmoid gates (the meshed
cross-attention the paper's multi-level operator follows), then an MLP. It reads the levels the encoder
kept in its last forward (`MemMCEncoder.levels`), so it is built with that encoder (`source`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from torch import Tensor, nn

from ..encoders.vit import init_mae_weights
from ..masking.base import Mask
from ..tokenizers.base import gather_tokens
from .base import Decoder, decoder_tokens


class MultiLevelCrossAttention(nn.Module):
    """queries x [B,N,D], levels: L tensors [B,S,D] -> [B,N,D] = sum_l sigmoid(W_l [x; c_l]) * c_l / sqrt(L),
    c_l = cross-attention of x to level l (one set of projections shared by the levels)."""

    def __init__(self, dim: int, heads: int, levels: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q, self.kv, self.proj = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        self.gates = nn.ModuleList(nn.Linear(2 * dim, dim) for _ in range(levels))

    def attend(self, x: Tensor, memory: Tensor) -> Tensor:
        b, n, d = x.shape
        q = self.q(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(memory).reshape(b, memory.shape[1], 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))

    def forward(self, x: Tensor, levels: list[Tensor]) -> Tensor:
        out = 0
        for gate, level in zip(self.gates, levels):
            c = self.attend(x, level)
            out = out + torch.sigmoid(gate(torch.cat([x, c], dim=-1))) * c
        return out / math.sqrt(len(levels))


class MultiLevelBlock(nn.Module):
    def __init__(self, dim: int, heads: int, levels: int, mlp_ratio: float = 4.0, norm_eps: float = 1e-6):
        super().__init__()
        from timm.models.vision_transformer import Attention
        self.norm1, self.attn = nn.LayerNorm(dim, eps=norm_eps), Attention(dim, heads, qkv_bias=True)
        self.norm2, self.cross = nn.LayerNorm(dim, eps=norm_eps), MultiLevelCrossAttention(dim, heads, levels)
        self.norm3, self.mlp = nn.LayerNorm(dim, eps=norm_eps), Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, levels: list[Tensor]) -> Tensor:
        x = x + self.attn(self.norm1(x))
        x = x + self.cross(self.norm2(x), levels)
        return x + self.mlp(self.norm3(x))


class MultiLevelCrossDecoder(Decoder):
    """latents [B,P+Nv,E] (+ the encoder's levels) -> predictions [B,Np,out_dim] for `mask.predict`.

    `source`: the MemMC encoder whose `levels` (L tensors [B,P+Nv,E]) the cross-attention reads; each is
    projected by the same `embed` as the latents. Positions: the decoder's own fixed table (as MAE's)."""

    def __init__(self, source: nn.Module, dim: int = 128, depth: int = 2, heads: int = 4, mlp_ratio: float = 4.0,
                 norm_eps: float = 1e-6):
        super().__init__()
        self.dim, self.depth = dim, depth
        self._source = [source]  # a reference, not a sub-module: its weights belong to the encoder
        levels = len(source.blocks)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(MultiLevelBlock(dim, heads, levels, mlp_ratio, norm_eps) for _ in range(depth))
        self.level_norm = nn.LayerNorm(dim, eps=norm_eps)
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.embed = self.pred = self.pos = None

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        self.embed, self.pred, self.pos = nn.Linear(in_dim, self.dim), nn.Linear(self.dim, out_dim), position
        self.apply(init_mae_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 1) -> Tensor:
        levels = self._source[0].levels
        if not levels or levels[-1].shape != latents.shape:
            raise ValueError("MultiLevelCrossDecoder reads the levels of its encoder's last forward; run the "
                             "encoder on these tokens first (MaskedAutoencoder.encode_visible)")
        x = decoder_tokens(self.embed(latents), self.pos(tokens), self.mask_token, mask.keep, mask.hidden,
                           num_prefix)[:, num_prefix:]                             # [B,N,Dd] in keep+hidden order
        memories = [self.level_norm(self.embed(h)[:, num_prefix:]) for h in levels]  # visible tokens of each level
        for block in self.blocks:
            x = block(x, memories)
        out = gather_tokens(x, mask.restore.gather(1, mask.predict))  # token t sits at restore[t]
        return self.pred(self.norm(out))
