"""ViT encoder (MAE, row 0) on timm `Block`s: it sees visible tokens only, plus a cls token."""
from __future__ import annotations

from functools import partial
from typing import Sequence

import torch
from timm.models.vision_transformer import Block
from torch import Tensor, nn


def init_mae_weights(module: nn.Module) -> None:
    """MAE's init: xavier-uniform linears with zero bias, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def make_blocks(dim: int, depth: int, heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0,
                norm_eps: float = 1e-6) -> nn.ModuleList:
    """`depth` timm transformer blocks (pre-norm, qkv bias, LayerNorm eps 1e-6 as MAE unless told)."""
    if dim % heads:
        raise ValueError(f"width {dim} is not divisible by {heads} heads")
    rates = [drop_path * i / max(depth - 1, 1) for i in range(depth)]
    return nn.ModuleList(
        Block(dim, heads, mlp_ratio=mlp_ratio, qkv_bias=True, drop_path=r,
              norm_layer=partial(nn.LayerNorm, eps=norm_eps))
        for r in rates)


def call_encoder(encoder: nn.Module, x: Tensor, positions, **kwargs):
    """encoder(x) for x [B,Nv,D] = embeddings + positions; `positions()` -> [B|1,Nv,D] is evaluated only for
    encoders that re-add positions at every block (Point-MAE's, `pos_every_block`)."""
    if getattr(encoder, "pos_every_block", False):
        return encoder(x, pos=positions(), **kwargs)
    return encoder(x, **kwargs)


class ViTEncoder(nn.Module):
    """x [B,Nv,D] (embeddings + positions of visible tokens) -> latents [B,1+Nv,D].

    Parameter names follow timm's VisionTransformer (`cls_token`, `blocks.i`, `norm`), so the
    encoder exports to a timm ViT state dict by adding the tokenizer's patch embedding.
    `pos_every_block=True` adds the tokens' positions again before every block after the first, as
    Point-MAE's encoder does (`block(x + pos)` at each depth); the caller then passes `pos`.
    """

    def __init__(self, dim: int = 768, depth: int = 12, heads: int = 12, mlp_ratio: float = 4.0,
                 drop_path: float = 0.0, cls_token: bool = True, norm_eps: float = 1e-6,
                 pos_every_block: bool = False):
        super().__init__()
        self.dim, self.depth, self.heads = dim, depth, heads
        self.pos_every_block = pos_every_block
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if cls_token else None
        self.num_prefix = 1 if cls_token else 0
        self.blocks = make_blocks(dim, depth, heads, mlp_ratio, drop_path, norm_eps)
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.grad_checkpointing = False
        self.apply(init_mae_weights)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)

    def forward(self, x: Tensor, return_layers: Sequence[int] | None = None, pos: Tensor | None = None):
        """Returns latents [B,P+Nv,D] (P prefix tokens), or (latents, [block outputs]) if asked.

        `return_layers` are block indices (negative counts from the end); their outputs are
        taken before the final norm. `pos` [B|1,Nv,D]: the positions already in `x`, re-added before
        blocks 1.. when `pos_every_block` (required then).
        """
        if self.pos_every_block and pos is None:
            raise ValueError("this encoder adds positions at every block: pass pos= (the tokens' positions)")
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        if self.pos_every_block:
            pos = nn.functional.pad(pos, (0, 0, self.num_prefix, 0))  # no position for prefix tokens
        wanted = {i % self.depth for i in return_layers} if return_layers else set()
        taken = {}
        for i, block in enumerate(self.blocks):
            if self.pos_every_block and i > 0:
                x = x + pos
            if self.grad_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
            if i in wanted:
                taken[i] = x
        x = self.norm(x)
        if return_layers is None:
            return x
        return x, [taken[i % self.depth] for i in return_layers]
