"""LUT (row 7), learning with unmasked tokens: extra, weighted supervision on the encoded visible tokens.

An EMA copy of the encoder sees the whole image; each visible token's student latent, through a small
projector, is pulled (cosine) towards the teacher's latent of that token, which saw the broad context.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..tokenizers.base import gather_tokens
from ..targets.teacher import EMATeacher
from .base import ExtraTerm
from .registry import TERMS


@TERMS.register("visible_tokens")
class VisibleTokenTerm(ExtraTerm):
    """weight * mean over visible tokens of (1 - cos(proj(student latent), EMA teacher latent))."""

    def __init__(self, weight: float = 0.5, momentum: float = 0.996, name: str = "visible_tokens"):
        super().__init__()
        self.weight, self.momentum, self.name = weight, momentum, name
        self.teacher: EMATeacher | None = None
        self.proj: nn.Module | None = None
        self._student: tuple = ()

    def bind(self, model) -> None:
        d = model.encoder.dim
        self.proj = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.teacher = EMATeacher(model.tokenizer, model.encoder, self.momentum)
        self._student = (model.tokenizer, model.encoder)

    def visible_loss(self, student: Tensor, teacher_all: Tensor, keep: Tensor) -> Tensor:
        """student [B,Nv,D] (visible, in keep order), teacher_all [B,N,D] -> [B,Nv] per-token loss."""
        target = gather_tokens(teacher_all, keep)
        return 1.0 - F.cosine_similarity(self.proj(student), target, dim=-1)

    def forward(self, ctx) -> dict[str, Tensor]:
        student = ctx.latents[:, ctx.model.encoder.num_prefix:]
        per_token = self.visible_loss(student, self.teacher(ctx.x), ctx.mask.keep)
        return {self.name: self.weight * per_token.mean()}

    def after_step(self) -> None:
        if self.teacher is not None:
            self.teacher.update(self._student)
