"""ViT encoder (MAE, row 0) on timm `Block`s: it sees visible tokens only, plus a cls token."""
from __future__ import annotations

from functools import partial
from typing import Sequence

import torch
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from ..tokenizers.base import Tokens, gather_tokens


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


def encoder_inputs(encoder: nn.Module, tokens: Tokens, index: Tensor | None = None) -> dict[str, Tensor]:
    """The encoder's inputs for the tokens at `index` [B,Nv] (every token when None): x = embeddings +
    positions [B,Nv,D], and pos [B,Nv,D] too for encoders that re-add positions at every block (Point-MAE's)."""
    pick = (lambda t: t) if index is None else (lambda t: gather_tokens(t.expand_as(tokens.embed), index))
    inputs = {"x": pick(tokens.embed + tokens.pos)}
    if getattr(encoder, "pos_every_block", False):
        inputs["pos"] = pick(tokens.pos)
    return inputs


def encode_tokens(encoder: nn.Module, tokens: Tokens, index: Tensor | None = None, **kwargs):
    """The encoder run on the tokens at `index` [B,Nv] (every token when None): latents [B,P+Nv,D]."""
    if getattr(encoder, "reads_input", False):  # a CNN reads the whole input and the visible set (SparK)
        return encoder.encode_tokens(tokens, index, **kwargs)
    inputs = encoder_inputs(encoder, tokens, index)
    return encoder(inputs.pop("x"), **inputs, **kwargs)  # x positional: forward hooks read args[0]


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

    def with_prefix(self, x: Tensor, pos: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """x [B,Nv,D] -> [B,P+Nv,D] with the prefix tokens (cls) first; pos likewise, zeros for the prefix."""
        if self.pos_every_block and pos is None:
            raise ValueError("this encoder adds positions at every block: pass pos= (the tokens' positions)")
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        if pos is not None:
            pos = nn.functional.pad(pos, (0, 0, self.num_prefix, 0))
        return x, pos

    def block_input(self, i: int, h: Tensor, pos: Tensor | None) -> Tensor:
        """What block i reads: h [B,P+Nv,D], plus the positions again for i >= 1 when `pos_every_block`."""
        return h + pos if self.pos_every_block and i > 0 else h

    def forward(self, x: Tensor, return_layers: Sequence[int] | None = None, pos: Tensor | None = None):
        """Returns latents [B,P+Nv,D] (P prefix tokens), or (latents, [block outputs]) if asked.

        `return_layers` are block indices (negative counts from the end); their outputs are
        taken before the final norm. `pos` [B|1,Nv,D]: the positions already in `x`, re-added before
        blocks 1.. when `pos_every_block` (required then).
        """
        x, pos = self.with_prefix(x, pos)
        return run_blocks(self.blocks, self.norm, x, return_layers, self.grad_checkpointing and self.training,
                          lambda i, h: self.block_input(i, h, pos))


def run_blocks(blocks: nn.ModuleList, norm: nn.Module | None, x: Tensor, return_layers: Sequence[int] | None,
               checkpointing: bool, block_input=None, extra: tuple = ()):
    """x [B,T,D] through `blocks` (each called as block(h, *extra)), then `norm` (None: none); with
    `return_layers` (block indices, negative from the end) also those blocks' outputs before the norm.
    `block_input(i, h)`: what block i reads (default h itself)."""
    depth = len(blocks)
    wanted = {i % depth for i in return_layers} if return_layers else set()
    taken = {}
    for i, block in enumerate(blocks):
        if block_input is not None:
            x = block_input(i, x)
        if checkpointing:
            x = torch.utils.checkpoint.checkpoint(block, x, *extra, use_reentrant=False)
        else:
            x = block(x, *extra)
        if i in wanted:
            taken[i] = x
    if norm is not None:
        x = norm(x)
    if return_layers is None:
        return x
    return x, [taken[i % depth] for i in return_layers]
