"""DMJD (row 33) joint distillation: a dual branch on every disjoint view.

With the `disjoint` masker each image gives k masked views whose hidden sets do not overlap. On every view
the masked branch (the model's decoder) predicts the hidden tokens' targets, and the visible branch (a
projector + predictor on the encoder's latents, no decoder) predicts the visible tokens' targets. Both
branches read the same improved target (HOG in DMJD's recipes, the model's `Target` here). From
mx-mark/DMJD `models_dmjd.py`: the projector is 3 linear layers with LayerNorm + GELU (the last norm without
affine parameters) at the decoder's width, then one linear predictor; the visible loss is smooth-L1 with
beta 2.0 (`vis_loss_type smooth_l1`), weight `theta` 1.0; the masked loss is the model's own (L2).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..tokenizers.base import gather_tokens
from .base import ExtraTerm
from .registry import TERMS


def visible_projector(in_dim: int, width: int, out_dim: int) -> nn.Sequential:
    """DMJD's visible branch: 3 x (linear, LayerNorm, GELU), the last norm without affine and no GELU,
    then a linear predictor to the target width."""
    return nn.Sequential(
        nn.Linear(in_dim, width), nn.LayerNorm(width), nn.GELU(),
        nn.Linear(width, width), nn.LayerNorm(width), nn.GELU(),
        nn.Linear(width, width), nn.LayerNorm(width, elementwise_affine=False),
        nn.Linear(width, out_dim))


@TERMS.register("dual_branch")
class DualBranch(ExtraTerm):
    """Adds `views_reconstruction` (the masked branch on the other views) and weight * `visible_branch`
    (the visible branch on every view, smooth-L1 on the visible tokens' targets)."""

    def __init__(self, weight: float = 1.0, beta: float = 2.0):
        super().__init__()
        self.weight, self.beta = weight, beta
        self.head: nn.Module | None = None

    def bind(self, model) -> None:
        self.head = visible_projector(model.encoder.dim, model.decoder.dim, model.target.dim(model.tokenizer))

    def visible_loss(self, latents: Tensor, keep: Tensor, full_target: Tensor, num_prefix: int) -> Tensor:
        """latents [B,P+Nv,D] (visible tokens in `keep` order), keep [B,Nv], full_target [B,N,T] -> scalar."""
        return F.smooth_l1_loss(self.head(latents[:, num_prefix:]), gather_tokens(full_target, keep), beta=self.beta)

    def forward(self, ctx) -> dict[str, Tensor]:
        model, p = ctx.model, ctx.model.encoder.num_prefix
        views = getattr(ctx.mask, "views", None) or [ctx.mask]
        full_target = model.targets_for(ctx.x, ctx.tokens)                 # [B,N,T], no gradient
        visible = [self.visible_loss(ctx.latents, ctx.mask.keep, full_target, p)]
        masked = []
        for mask in views[1:]:                                             # the other disjoint views
            latents = model.encode_visible(ctx.tokens, mask.keep)
            pred = model.decode(latents, mask, ctx.tokens)
            masked.append(model.token_loss(pred, gather_tokens(full_target, mask.predict), mask, ctx.tokens).mean())
            visible.append(self.visible_loss(latents, mask.keep, full_target, p))
        out = {"visible_branch": self.weight * torch.stack(visible).mean()}
        if masked:
            out["views_reconstruction"] = torch.stack(masked).sum()
        return out

    def extra_repr(self) -> str:
        return f"weight={self.weight}, beta={self.beta}"
