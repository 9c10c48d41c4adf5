"""MemMC-MAE's encoder (Tian et al. 2022, PAPERS.md row 19): memory-augmented self-attention.

Every block's self-attention reads, beside the visible tokens, `memory` learned key/value slots
(the memory of normal patterns, as in the meshed-memory transformer's memory-augmented attention the
paper builds on): keys = [W_k x ; M_k], values = [W_v x ; M_v]. An anomaly's tokens attend to slots that
hold normal patterns, which constrains their reconstruction. The encoder also keeps the (normed) output
of every block for the multi-level cross-attention decoder (`decoders/memmc.py`).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp
from torch import Tensor, nn

from .vit import ViTEncoder, init_mae_weights


class MemoryAttention(nn.Module):
    """x [B,N,D] -> [B,N,D]: multi-head self-attention whose keys and values are extended by `memory`
    learned slots per head: `memory_k`, `memory_v` [1,H,M,D/H]."""

    def __init__(self, dim: int, heads: int, memory: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        if memory < 1:
            raise ValueError(f"memory-augmented attention needs >= 1 memory slot, got {memory}")
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.memory_k = nn.Parameter(torch.randn(1, heads, memory, self.head_dim) / math.sqrt(self.head_dim))
        self.memory_v = nn.Parameter(torch.randn(1, heads, memory, self.head_dim) / math.sqrt(memory))

    def keys_values(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q [B,H,N,d], k and v [B,H,N+M,d] (the tokens' then the memory's)."""
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        k = torch.cat([k, self.memory_k.expand(b, -1, -1, -1)], dim=2)
        v = torch.cat([v, self.memory_v.expand(b, -1, -1, -1)], dim=2)
        return q, k, v

    def attention(self, x: Tensor) -> Tensor:
        """The attention weights [B,H,N,N+M]; the last M columns are what each token reads from the memory."""
        q, k, _ = self.keys_values(x)
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.keys_values(x)
        out = F.scaled_dot_product_attention(q, k, v)  # [B,H,N,d]
        return self.proj(out.transpose(1, 2).reshape(x.shape))


class MemoryBlock(nn.Module):
    """Pre-norm transformer block with memory-augmented self-attention (names as timm's `Block`)."""

    def __init__(self, dim: int, heads: int, memory: int, mlp_ratio: float = 4.0, drop_path: float = 0.0,
                 norm_eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = MemoryAttention(dim, heads, memory)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class MemMCEncoder(ViTEncoder):
    """ViTEncoder whose blocks are `MemoryBlock`s: x [B,Nv,D] -> latents [B,1+Nv,D].

    After each forward, `levels` holds every block's output through the final norm ([B,1+Nv,D] each,
    shallow to deep): the multi-level cross-attention decoder reads them.
    """

    def __init__(self, dim: int = 192, depth: int = 12, heads: int = 3, memory: int = 10, mlp_ratio: float = 4.0,
                 drop_path: float = 0.0, norm_eps: float = 1e-6):
        super().__init__(dim, depth, heads, mlp_ratio, drop_path, cls_token=True, norm_eps=norm_eps)
        rates = [drop_path * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(MemoryBlock(dim, heads, memory, mlp_ratio, r, norm_eps) for r in rates)
        for block in self.blocks:
            for layer in (block.attn.qkv, block.attn.proj, block.mlp, block.norm1, block.norm2):
                layer.apply(init_mae_weights)
        self.memory_slots = memory
        self.levels: list[Tensor] = []

    def forward(self, x: Tensor, return_layers: Sequence[int] | None = None, pos: Tensor | None = None):
        every = list(range(self.depth))
        latents, outputs = super().forward(x, every, pos)
        self.levels = [self.norm(h) for h in outputs[:-1]] + [latents]
        if return_layers is None:
            return latents
        return latents, [outputs[i % self.depth] for i in return_layers]
