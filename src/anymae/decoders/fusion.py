"""MAE decoder with hybrid token fusion in front (ChA-MAEViT, row 45): each visible patch latent is
fused with the global class token before decoding, so the decoder reads local and global information."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..masking.base import Mask
from .mae import MAEDecoder


class HybridTokenFusion(nn.Module):
    """latents [B,P+Nv,D] -> same shape; patch tokens x_i <- x_i + W [x_i ; cls] (cls = latents[:,0])."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(2 * dim, eps=1e-6)
        self.fuse = nn.Linear(2 * dim, dim)
        nn.init.zeros_(self.fuse.weight)  # starts as the identity
        nn.init.zeros_(self.fuse.bias)

    def forward(self, latents: Tensor, num_prefix: int) -> Tensor:
        if num_prefix == 0:
            raise ValueError("hybrid token fusion needs an encoder with a cls token")
        cls, patches = latents[:, :1], latents[:, num_prefix:]
        joined = torch.cat([patches, cls.expand_as(patches)], dim=-1)
        return torch.cat([latents[:, :num_prefix], patches + self.fuse(self.norm(joined))], dim=1)


class FusionDecoder(MAEDecoder):
    """MAEDecoder whose input latents first pass through HybridTokenFusion (when `fusion`)."""

    def __init__(self, dim: int = 128, depth: int = 2, heads: int = 4, mlp_ratio: float = 4.0,
                 learnable_pos: bool = False, fusion: bool = True):
        super().__init__(dim, depth, heads, mlp_ratio, learnable_pos)
        self.use_fusion = fusion
        self.fusion: nn.Module | None = None

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        super().bind(in_dim, out_dim, position)
        self.fusion = HybridTokenFusion(in_dim) if self.use_fusion else None

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 1) -> Tensor:
        if self.fusion is not None:
            latents = self.fusion(latents, num_prefix)
        return super().forward(latents, mask, tokens, num_prefix)
