"""Guided masking (I2P-MAE row 20, text-guided masking row 46, Lift3D row 23): per-token scores -> mask.

The masker hides (or keeps) the highest-scoring tokens; tokens with equal scores are ordered
uniformly at random, so a flat score map gives random masking. Scores come from the `scores`
argument (any [B,N] tensor: 2-D saliency projected onto points, caption relevance, affordance
maps), or, inside a model, from `scorer(model, tokens)` reading `source`:

  contrast      standard deviation of each token's raw values (a data-only saliency)
  extra:KEY     `tokens.extra[KEY]`, a [B,N] tensor a tokenizer or data pipeline attached
  term:NAME     `scores(model, tokens)` of the model's extra term NAME (I2P-MAE's 2-D guidance: `term:i2p`),
                which the masker names in `term_specs()` so that the model gets it
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Mask, Masker, MaskerExample, mask_from_permutation, num_visible, order_by_scores, check_sample_args
from .registry import register_masker


def token_contrast(tokens) -> Tensor:
    """[B,N] standard deviation of each token's raw values."""
    return tokens.values.float().std(dim=-1)


@register_masker("guided")
class GuidedMasker(Masker):
    """Hide the top-scoring tokens (`keep_top=False`, I2P-MAE / text-guided / Lift3D hide what matters)
    or keep them (`keep_top=True`); exact count; random tie-breaking. `source` says where a model's
    scores come from (see module doc)."""

    def __init__(self, ratio: float = 0.75, keep_top: bool = False, source: str = "contrast"):
        super().__init__()
        num_visible(4, ratio)
        if source != "contrast" and not source.startswith(("extra:", "term:")):
            raise ValueError(f"guided masker: source must be 'contrast', 'extra:KEY' or 'term:NAME', got {source!r}")
        self.ratio, self.keep_top, self.source = ratio, keep_top, source

    @classmethod
    def example(cls, spatial=(14, 14)) -> MaskerExample:
        return MaskerExample(grid=tuple(spatial), scores=True, variants=[{"keep_top": False}, {"keep_top": True}],
                             note="scores: patch contrast")

    def scorer(self, model, tokens) -> Tensor:
        """Per-token scores [B,N] from `source`."""
        if self.source == "contrast":
            return token_contrast(tokens)
        if self.source.startswith("term:"):
            name = self.source.split(":", 1)[1]
            term = model.term_named(name) if model is not None else None
            if term is None:
                raise ValueError(f"guided masker: scores come from the extra term {name!r}, which the model lacks")
            return term.scores(model, tokens)
        key = self.source.split(":", 1)[1]
        if key not in tokens.extra:
            raise ValueError(f"guided masker: tokens carry no extra[{key!r}] scores (have {sorted(tokens.extra)})")
        return tokens.extra[key]

    def term_specs(self) -> list[tuple[str, dict]]:
        return [(self.source.split(":", 1)[1], {})] if self.source.startswith("term:") else []

    def forward(self, tokens, generator: torch.Generator | None = None, scores: Tensor | None = None) -> Mask:
        if scores is None:
            scores = self.scorer(None, tokens)
        return self.sample(tokens.batch_size, tokens.grid, generator, tokens.embed.device, scores=scores)

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu", scores: Tensor | None = None) -> Mask:
        check_sample_args(batch_size, grid)
        n = math.prod(grid)
        if scores is None:
            raise ValueError("guided masker needs per-token scores [B,N] (scores=...)")
        if tuple(scores.shape) != (batch_size, n):
            raise ValueError(f"guided masker: scores must have shape {(batch_size, n)}, got {tuple(scores.shape)}")
        # kept tokens first: the lowest scores when hiding the top, the highest when keeping it
        order = order_by_scores(scores.to(device).float(), generator, descending=self.keep_top)
        return mask_from_permutation(order, num_visible(n, self.ratio))

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, keep_top={self.keep_top}, source={self.source!r}"
