"""MR-MAE (row 13), "mimic before reconstruct": a mimic loss on the encoder's visible tokens against a
frozen teacher's features, while the decoder reconstructs pixels of the hidden tokens."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..tokenizers.base import gather_tokens
from ..targets.teacher import FrozenTeacherPart, normalise
from .base import ExtraTerm
from .registry import TERMS


@TERMS.register("mimic_visible")
class VisibleMimic(FrozenTeacherPart, ExtraTerm):
    """weight * mean over visible tokens of || proj(student latent) - LN(teacher feature) ||^2.

    The teacher sees the whole sample; its features are read at `mask.keep` only, and the student's
    are its encoder outputs of those same tokens (prefix tokens left out).
    """

    def __init__(self, weight: float = 1.0, teacher_index: int = 0, name: str = "mimic_visible"):
        super().__init__()
        self.weight, self.teacher_index, self.name = weight, teacher_index, name
        self.proj: nn.Module | None = None
        self.student_dim = None

    def bind(self, model) -> None:
        self.student_dim = model.encoder.dim

    def set_teacher(self, teacher) -> None:
        super().set_teacher(teacher)
        self.proj = nn.Linear(self.student_dim, teacher.dim)

    def forward(self, ctx) -> dict[str, Tensor]:
        teacher = self.need_teacher()
        target = gather_tokens(normalise(teacher(ctx.x)), ctx.mask.keep)          # [B,Nv,Dt]
        student = ctx.latents[:, ctx.model.encoder.num_prefix:]                     # [B,Nv,D]
        return {self.name: self.weight * F.mse_loss(self.proj(student), target)}
