"""ViT encoder with memory tokens (ChA-MAEViT, row 45): learnable tokens after the cls token that every
patch can read and write, a long-term store shared across channels."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .vit import ViTEncoder


class MemoryViTEncoder(ViTEncoder):
    """ViTEncoder with `memory` learnable tokens: latents [B,1+M+Nv,D] (num_prefix = 1 + M)."""

    def __init__(self, dim: int = 192, depth: int = 12, heads: int = 3, mlp_ratio: float = 4.0,
                 drop_path: float = 0.0, memory: int = 4):
        super().__init__(dim, depth, heads, mlp_ratio, drop_path, cls_token=True)
        if memory < 0:
            raise ValueError(f"memory tokens must be >= 0, got {memory}")
        self.memory = nn.Parameter(torch.zeros(1, memory, dim)) if memory else None
        self.num_prefix = 1 + memory
        if self.memory is not None:
            nn.init.normal_(self.memory, std=0.02)

    def with_prefix(self, x: Tensor, pos: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """x [B,Nv,D] -> [B,1+M+Nv,D]: cls, then the memory tokens, then x (pos is padded by all 1+M)."""
        if self.memory is not None:
            x = torch.cat([self.memory.expand(x.shape[0], -1, -1), x], dim=1)
        return super().with_prefix(x, pos)
