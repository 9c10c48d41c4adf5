"""Graph-biased decoder (SkeletonMAE, PAPERS.md row 18): MAE's decoder whose blocks bias attention by the hop
distance between joints, so a hidden joint is rebuilt mostly from its neighbours in the skeleton (SkeletonMAE
reconstructs the masked joints with one GIN layer over the human topology)."""
from __future__ import annotations

import torch
from torch import Tensor

from ..encoders.graph import HopBias, make_graph_blocks
from ..encoders.vit import init_mae_weights
from ..masking.base import Mask
from ..tokenizers.base import gather_tokens
from ..tokenizers.skeleton import default_graph
from .base import decoder_tokens
from .mae import MAEDecoder


class GraphDecoder(MAEDecoder):
    """latents [B,P+Nv,E] + a mask token per hidden token -> predictions [B,Nh,out_dim] (every hidden token)."""

    def __init__(self, dim: int = 128, depth: int = 1, heads: int = 4, joints: int = 25, edges=None,
                 max_hop: int = 4, mlp_ratio: float = 4.0):
        super().__init__(dim, depth=0, heads=heads, mlp_ratio=mlp_ratio)
        edges, _ = default_graph(joints, edges)
        self.depth, self.joints = depth, joints
        self.blocks = make_graph_blocks(dim, depth, heads, mlp_ratio)
        self.bias = HopBias(heads, joints, edges, max_hop)
        self.blocks.apply(init_mae_weights)

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 1) -> Tensor:
        x = self.embed(latents)
        b = x.shape[0]
        x = decoder_tokens(x, self.pos(tokens), self.mask_token, mask.keep, mask.hidden, num_prefix)  # [B,P+Nv+Nh,Dd]
        prefix = torch.full((b, num_prefix), -1, dtype=torch.long, device=x.device)
        bias = self.bias(torch.cat([prefix, mask.keep % self.joints, mask.hidden % self.joints], dim=1))
        for block in self.blocks:
            x = block(x, bias)
        if mask.predict is mask.hidden:
            out = x[:, num_prefix + mask.keep.shape[1]:]                               # the mask tokens, in order
        else:  # token t sits at restore[t] in cat(visible, hidden)
            out = gather_tokens(x[:, num_prefix:], mask.restore.gather(1, mask.predict))
        return self.pred(self.norm(out))
