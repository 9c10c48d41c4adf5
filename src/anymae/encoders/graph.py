"""Graph-biased transformer (SkeletonMAE's topology prior, PAPERS.md row 18): attention between two joint tokens
gets a learnable bias per head that depends on the hop distance between their joints in the skeleton graph.

SkeletonMAE embeds the joints with GIN layers over the skeleton graph, so a joint is built from its neighbours.
Here that prior is an attention bias (as Graphormer's spatial encoding): `HopBias` starts from -0.5 per hop
(neighbours attend more than far joints from the first step) and learns its table; the encoder sees the visible
tokens only (MAE), and a token's joint is its index modulo J (the `SkeletonTokenizer`'s layout).
"""
from __future__ import annotations

from typing import Sequence

import torch
from timm.layers import Mlp
from torch import Tensor, nn

from ..tokenizers.base import Tokens, gather_tokens
from ..tokenizers.skeleton import default_graph, hop_distances
from .vit import init_mae_weights, run_blocks


class HopBias(nn.Module):
    """joint ids [B,T] (-1 for prefix tokens) -> additive attention bias [B,H,T,T] from the hop distance.

    Distances above `max_hop` share one entry; pairs with a prefix token share another (initialised at 0).
    """

    def __init__(self, heads: int, joints: int, edges, max_hop: int = 4, init_slope: float = 0.5):
        super().__init__()
        self.joints, self.max_hop = joints, max_hop
        self.register_buffer("hops", hop_distances(joints, edges).clamp(max=max_hop + 1), persistent=False)
        table = -init_slope * torch.arange(max_hop + 2, dtype=torch.float32)
        self.table = nn.Parameter(torch.cat([table, torch.zeros(1)]).repeat(heads, 1))   # [H,max_hop+3]

    def forward(self, joint: Tensor) -> Tensor:
        prefix = self.max_hop + 2
        safe = joint.clamp(min=0)
        index = self.hops[safe[:, :, None], safe[:, None, :]]                       # [B,T,T]
        index = index.masked_fill((joint < 0)[:, :, None] | (joint < 0)[:, None, :], prefix)
        return self.table[:, index].permute(1, 0, 2, 3)                            # [B,H,T,T]


class GraphBlock(nn.Module):
    """Pre-norm transformer block whose attention adds a bias [B,H,T,T] (scaled_dot_product_attention)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, norm_eps: float = 1e-6):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def attention(self, x: Tensor, bias: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(b, t, d))

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        x = x + self.attention(self.norm1(x), bias)
        return x + self.mlp(self.norm2(x))


def make_graph_blocks(dim: int, depth: int, heads: int, mlp_ratio: float = 4.0) -> nn.ModuleList:
    return nn.ModuleList(GraphBlock(dim, heads, mlp_ratio) for _ in range(depth))


class GraphBiasedEncoder(nn.Module):
    """Tokens of a skeleton (visible ones at `keep`) -> latents [B,1+Nv,D], attention biased by joint hops.

    It reads the Tokens (the joints of the visible tokens), so `MaskedAutoencoder` calls `encode_tokens`.
    """

    reads_input = True

    def __init__(self, dim: int = 256, depth: int = 8, heads: int = 8, joints: int = 25, edges=None,
                 max_hop: int = 4, mlp_ratio: float = 4.0, cls_token: bool = True):
        super().__init__()
        edges, _ = default_graph(joints, edges)
        self.dim, self.depth, self.heads, self.joints = dim, depth, heads, joints
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if cls_token else None
        self.num_prefix = 1 if cls_token else 0
        self.bias = HopBias(heads, joints, edges, max_hop)
        self.blocks = make_graph_blocks(dim, depth, heads, mlp_ratio)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.grad_checkpointing = False
        self.apply(init_mae_weights)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)

    def joint_ids(self, index: Tensor) -> Tensor:
        """token indices [B,Nv] -> [B,P+Nv] joint ids, -1 for the prefix."""
        prefix = torch.full((index.shape[0], self.num_prefix), -1, dtype=torch.long, device=index.device)
        return torch.cat([prefix, index % self.joints], dim=1)

    def encode_tokens(self, tokens: Tokens, keep: Tensor | None = None, return_layers: Sequence[int] | None = None):
        """Tokens and the visible set keep [B,Nv] (every token when None) -> latents [B,P+Nv,D] (and the
        outputs of `return_layers`, before the final norm, when asked)."""
        x = tokens.embed + tokens.pos
        n = x.shape[1]
        if n % self.joints:
            raise ValueError(f"{n} tokens are not whole frames of this encoder's {self.joints} joints")
        if keep is None:
            keep = torch.arange(n, device=x.device).expand(x.shape[0], -1)
        x = gather_tokens(x.expand(keep.shape[0], -1, -1), keep)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        bias = self.bias(self.joint_ids(keep))
        return run_blocks(self.blocks, self.norm, x, return_layers, self.grad_checkpointing and self.training,
                          extra=(bias,))

    def forward(self, x: Tensor, *args, **kwargs):
        raise ValueError("GraphBiasedEncoder reads the tokens' joints: call it through MaskedAutoencoder.encode_visible")
