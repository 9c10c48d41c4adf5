"""Masked Feature Modeling (MFM, PAPERS.md row 28): mask an intermediate layer's features, rebuild them with
a light Rebuilder, and let the rest of the network solve the main task from the rebuilt features.

The term reads block `layer`'s output of the model's own forward pass (a `LayerTap`, no second pass),
replaces a random `ratio` of the visible tokens' features by a learned mask feature, rebuilds them with
the Rebuilder (one transformer block), runs the remaining encoder blocks and the decoder on the rebuilt
features and adds the main loss of that path (MFM classifies the rebuilt features with the task's own
decoder, so the auxiliary task is the main task). The Rebuilder is trained jointly and never runs at
inference (`encode`) nor enters the exported encoder.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..encoders.vit import encoder_inputs, make_blocks
from ..masking.base import uniform
from .base import ExtraTerm
from .registry import TERMS
from .tap import LayerTap


def feature_mask(batch: int, visible: int, ratio: float, generator, device) -> Tensor:
    """[B,Nv] bool, True for the exactly round(Nv * ratio) (at least 1) visible tokens whose features are masked."""
    count = min(visible, max(1, int(round(visible * ratio))))
    order = torch.argsort(uniform((batch, visible), generator, device), dim=1)
    hidden = torch.zeros(batch, visible, dtype=torch.bool, device=device)
    hidden.scatter_(1, order[:, :count], True)
    return hidden


@TERMS.register("feature_masking")
class FeatureMasking(ExtraTerm):
    """weight * the main loss on features of block `layer` masked at `ratio` and rebuilt (MFM)."""

    def __init__(self, layer: int, ratio: float = 0.5, weight: float = 1.0, heads: int | None = None):
        super().__init__()
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"feature_mask_ratio must be in (0, 1), got {ratio}")
        self.layer, self.ratio, self.weight, self.heads = int(layer), ratio, weight, heads
        self.rebuilder: nn.ModuleList | None = None
        self.mask_feature: nn.Parameter | None = None
        self._tap: LayerTap | None = None

    def bind(self, model) -> None:
        encoder = model.encoder
        blocks = getattr(encoder, "blocks", None)
        if blocks is None or not hasattr(encoder, "norm"):
            raise ValueError(f"feature_mask_layer needs a transformer encoder with blocks, got {type(encoder).__name__}")
        depth = len(blocks)
        if not 0 <= self.layer < depth:
            raise ValueError(f"feature_mask_layer={self.layer}: the encoder has blocks 0..{depth - 1}")
        heads = self.heads or getattr(encoder, "heads", 1)
        self.rebuilder = make_blocks(encoder.dim, 1, heads)   # the light Rebuilder: one block
        self.mask_feature = nn.Parameter(torch.zeros(1, 1, encoder.dim))
        nn.init.normal_(self.mask_feature, std=0.02)
        self._tap = LayerTap([blocks[self.layer]])

    def rebuild(self, features: Tensor, hidden: Tensor, num_prefix: int) -> Tensor:
        """features [B,P+Nv,D], hidden [B,Nv] -> rebuilt [B,P+Nv,D] (the Rebuilder sees the masked features)."""
        body = torch.where(hidden.unsqueeze(-1), self.mask_feature.to(features.dtype), features[:, num_prefix:])
        h = torch.cat([features[:, :num_prefix], body], dim=1)
        for block in self.rebuilder:
            h = block(h)
        return h

    def finish_encoder(self, encoder, h: Tensor, tokens, keep: Tensor) -> Tensor:
        """Blocks layer+1.. and the final norm on h [B,P+Nv,D] -> latents [B,P+Nv,D] (positions re-added
        where the encoder re-adds them)."""
        pos = None
        if getattr(encoder, "pos_every_block", False):
            inputs = encoder_inputs(encoder, tokens, keep)
            _, pos = encoder.with_prefix(inputs["x"], inputs["pos"])
        for i in range(self.layer + 1, len(encoder.blocks)):
            h = encoder.blocks[i](encoder.block_input(i, h, pos) if hasattr(encoder, "block_input") else h)
        return encoder.norm(h)

    def forward(self, ctx) -> dict[str, Tensor]:
        model, p = ctx.model, ctx.model.encoder.num_prefix
        features = self._tap[0]                                        # [B,P+Nv,D] block `layer`'s output
        b, nv = features.shape[0], features.shape[1] - p
        hidden = feature_mask(b, nv, self.ratio, ctx.generator, features.device)
        latents = self.finish_encoder(model.encoder, self.rebuild(features, hidden, p), ctx.tokens, ctx.mask.keep)
        pred = model.decode(latents, ctx.mask, ctx.tokens)
        loss = model.token_loss(pred, ctx.target, ctx.mask, ctx.tokens).mean()
        return {"feature_masking": self.weight * loss}

    def extra_repr(self) -> str:
        return f"layer={self.layer}, ratio={self.ratio}, weight={self.weight}"
