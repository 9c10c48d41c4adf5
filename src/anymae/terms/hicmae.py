"""HiCMAE's hierarchical cross-modal contrastive learning (row 16): at each chosen encoder block, each
modality's visible tokens (through its encoder's norm) are mean-pooled, L2-normalised and compared with the
other modality's by InfoNCE at temperature 0.07, symmetric (0.5 (video->audio + audio->video)); the positive
of a clip is its own soundtrack, every other clip of the batch is a negative. Facts from sunlicai/HiCMAE
(`modeling_pretrain_av.py`, `engine_for_pretraining_av.py`, `pretrain_base.sh`): blocks 3, 6, 9 of 10,
temperature 0.07, the sum over blocks weighted 0.0025, no projection head.
"""
from __future__ import annotations

from typing import Sequence

from torch import Tensor

from .base import ExtraTerm
from .invariance import info_nce  # symmetric: 0.5 (CE(a b^T / t) + CE(b a^T / t))
from .registry import TERMS


def pooled_by_group(features: Tensor, group: Tensor, which: int) -> Tensor:
    """features [B,Nv,D], group [B,Nv] modality ids -> mean of the tokens of modality `which` [B,D]."""
    weights = (group == which).to(features.dtype).unsqueeze(-1)                    # [B,Nv,1]
    return (features * weights).sum(1) / weights.sum(1).clamp_min(1.0)


@TERMS.register("hierarchical_contrastive")
class HierarchicalContrastive(ExtraTerm):
    """One term per chosen block, named `contrast_block{i}`, each weight * symmetric InfoNCE between the two
    modalities' pooled block-i features. `layers`: block indices (the model hands their outputs over in
    `StepContext.layers`); `modalities`: the two modality ids (the tokenizer's order)."""

    def __init__(self, layers: Sequence[int] = (3, 6, 9), weight: float = 0.0025, temperature: float = 0.07,
                 modalities: tuple[int, int] = (0, 1)):
        super().__init__()
        if not layers:
            raise ValueError("hierarchical contrastive learning needs at least one encoder block to pair")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.layers = sorted(int(i) for i in layers)
        self.weight, self.temperature, self.modalities = weight, temperature, tuple(modalities)

    def bind(self, model) -> None:
        if getattr(model.tokenizer, "names", None) is None or len(model.tokenizer.names) < 2:
            raise ValueError("hierarchical contrastive learning needs a model of two modalities (a multi-modal tokenizer)")

    def forward(self, ctx) -> dict[str, Tensor]:
        if ctx.layers is None:
            raise ValueError("hierarchical contrastive learning needs the encoder's block outputs (StepContext.layers)")
        group = ctx.tokens.group.to(ctx.mask.keep.device)[ctx.mask.keep]              # [B,Nv]
        first, second = self.modalities
        if ctx.mask.keep.shape[0] < 2 or not bool((group == first).any()) or not bool((group == second).any()):
            return {}  # one clip, or a modality absent: no negatives or no pair to contrast
        out = {}
        for i in self.layers:
            features = ctx.layers[i]
            a, b = pooled_by_group(features, group, first), pooled_by_group(features, group, second)
            out[f"contrast_block{i}"] = self.weight * info_nce(a, b, self.temperature)
        return out

    def extra_repr(self) -> str:
        return f"layers={self.layers}, weight={self.weight}, temperature={self.temperature}"
