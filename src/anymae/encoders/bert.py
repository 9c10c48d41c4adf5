"""A BERT encoder (post-LayerNorm, as Devlin et al. and RetroMAE, PAPERS.md row 2) that reads padding masks.

Parameter names map one-to-one onto Hugging Face's `BertModel` (io/hf_bert.py), so an encoder trained here
loads in transformers and sentence-transformers. Attention through `scaled_dot_product_attention`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .vit import run_blocks


class BertLayer(nn.Module):
    """One post-LN BERT layer; `kv` [B,Lk,D] gives a separate key/value stream (RetroMAE's enhanced decoding:
    the query stream attends to it), `allowed` [B,1|H,Lq,Lk] bool: True where a query may attend."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.1, eps: float = 1e-12):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.dim, self.heads, self.dropout = dim, heads, dropout
        hidden = int(dim * mlp_ratio)
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.attn_out, self.attn_norm = nn.Linear(dim, dim), nn.LayerNorm(dim, eps=eps)
        self.intermediate, self.output = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.out_norm = nn.LayerNorm(dim, eps=eps)

    def split(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.heads, self.dim // self.heads)).transpose(1, 2)

    def forward(self, x: Tensor, allowed: Tensor | None = None, kv: Tensor | None = None) -> Tensor:
        kv = x if kv is None else kv
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(self.split(self.query(x)), self.split(self.key(kv)),
                                           self.split(self.value(kv)), attn_mask=allowed, dropout_p=drop)
        h = self.attn_norm(x + F.dropout(self.attn_out(a.transpose(1, 2).flatten(2)), drop, self.training))
        y = self.output(F.gelu(self.intermediate(h)))
        return self.out_norm(h + F.dropout(y, drop, self.training))


def init_bert_weights(module: nn.Module) -> None:
    """BERT's init: normal(0, 0.02) linears with zero bias, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def key_padding(valid: Tensor | None) -> Tensor | None:
    """valid [B,L] -> allowed [B,1,1,L] (every query may attend to every non-pad key)."""
    return None if valid is None else valid[:, None, None, :]


def causal_padding(valid: Tensor | None, length: int, device) -> Tensor:
    """-> allowed [B|1,1,L,L]: query i attends to the non-pad keys j <= i (a decoder-only LM, MEAP)."""
    allowed = torch.ones(length, length, dtype=torch.bool, device=device).tril()[None, None]
    return allowed if valid is None else allowed & valid[:, None, None, :]


class BertEncoder(nn.Module):
    """x [B,L,D] (token embeddings + positions, [CLS] first) -> latents [B,L,D]; pads (`valid` False) are
    never attended to. `num_prefix = 1`: the first latent is the [CLS] summary token. `causal`: each token
    attends only to itself and the tokens before it (a decoder-only LM built from the same layers, MEAP)."""

    num_prefix = 1

    def __init__(self, dim: int = 768, depth: int = 12, heads: int = 12, mlp_ratio: float = 4.0,
                 dropout: float = 0.1, eps: float = 1e-12, causal: bool = False):
        super().__init__()
        self.dim, self.depth, self.heads, self.dropout, self.eps = dim, depth, heads, dropout, eps
        self.causal = causal
        self.embed_norm = nn.LayerNorm(dim, eps=eps)
        self.layers = nn.ModuleList(BertLayer(dim, heads, mlp_ratio, dropout, eps) for _ in range(depth))
        self.grad_checkpointing = False
        self.apply(init_bert_weights)

    def forward(self, x: Tensor, valid: Tensor | None = None, return_layers: Sequence[int] | None = None):
        """-> latents [B,L,D], or (latents, [outputs of the layers asked for]) with `return_layers`."""
        h = F.dropout(self.embed_norm(x), self.dropout, self.training)
        allowed = causal_padding(valid, x.shape[1], x.device) if self.causal else key_padding(valid)
        return run_blocks(self.layers, None, h, return_layers, self.grad_checkpointing and self.training,
                          extra=(allowed,))
