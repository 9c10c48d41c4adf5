"""MixedAE's homologous recognition (PAPERS.md row 11): in a mixed image every patch must recognise the
patches that come from its own source image.

A supervised-contrastive loss over the encoder's tokens of each mixed image (the `mixing` masker's
`MixMask.source` says where each token came from): for token i, the positives are exactly the other
tokens of the same source, the negatives the tokens of the partner images. The loss counters the
mutual-information shortcut that naive mixing opens (the abstract) and makes the features object-aware.
MixedAE's code was not released; its unofficial re-implementation (Natyren/MixedAE) uses a supervised
contrastive loss at temperature 0.07 with weight 0.5, which we follow, on a 2-layer projector of ours.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ExtraTerm
from .registry import TERMS


def homologous_positives(source: Tensor) -> Tensor:
    """source [B,N] -> [B,N,N] bool: True where tokens i and k of a mixed image share a source, i != k."""
    same = source.unsqueeze(2) == source.unsqueeze(1)
    return same & ~torch.eye(source.shape[1], dtype=torch.bool, device=source.device)


def homologous_loss(z: Tensor, source: Tensor, temperature: float) -> Tensor:
    """z [B,N,D] token features, source [B,N] -> scalar: supervised contrastive loss within each image."""
    z = F.normalize(z, dim=-1)
    logits = z @ z.transpose(1, 2) / temperature                          # [B,N,N]
    self_pair = torch.eye(z.shape[1], dtype=torch.bool, device=z.device)
    log_prob = logits.masked_fill(self_pair, float("-inf")).log_softmax(dim=-1)
    positives = homologous_positives(source)
    count = positives.sum(-1)                                               # [B,N]
    mean_log = log_prob.masked_fill(~positives, 0.0).sum(-1) / count.clamp_min(1)
    return -(mean_log[count > 0]).mean()


@TERMS.register("homologous")
class HomologousRecognition(ExtraTerm):
    """weight * the homologous-recognition loss on the encoder's tokens of each mixed image."""

    def __init__(self, weight: float = 0.5, temperature: float = 0.07, proj_dim: int = 128):
        super().__init__()
        self.weight, self.temperature, self.proj_dim = weight, temperature, proj_dim
        self.head: nn.Module | None = None

    def bind(self, model) -> None:
        d = model.encoder.dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, self.proj_dim))

    def forward(self, ctx) -> dict[str, Tensor]:
        source = getattr(ctx.mask, "source", None)
        if source is None:
            return {}   # an unmixed forward (a mask given from outside): nothing to recognise
        z = self.head(ctx.latents[:, ctx.model.encoder.num_prefix:])          # [B,N,P] every token of the mix
        return {"homologous": self.weight * homologous_loss(z, source, self.temperature)}

    def extra_repr(self) -> str:
        return f"weight={self.weight}, temperature={self.temperature}"
