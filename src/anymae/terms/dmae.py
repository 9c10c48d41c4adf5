"""DMAE (row 29), MAE as an efficient knowledge distiller: pixel loss + match a frozen (larger) teacher's
intermediate features on the visible patches; the teacher runs only its first few blocks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tap import LayerTap
from ..targets.teacher import FrozenTeacherPart
from .base import ExtraTerm
from .registry import TERMS


@TERMS.register("intermediate_distill")
class IntermediateDistill(FrozenTeacherPart, ExtraTerm):
    """weight * mean over pairs (i -> j) of || proj_i(student block i) - LN(teacher block j) ||^2 on
    the visible tokens (and the cls token).

    `mapping`: {student block: teacher block}; the teacher runs blocks 0..max(j) only, on the same
    visible tokens the student sees.
    """

    def __init__(self, mapping: dict | None = None, weight: float = 1.0, teacher_index: int = 0,
                 name: str = "distill_features"):
        super().__init__()
        self.mapping = {int(k): int(v) for k, v in (mapping or {-1: -1}).items()}
        self.weight, self.teacher_index, self.name = weight, teacher_index, name
        self.proj: nn.ModuleList | None = None
        self._tap: LayerTap | None = None
        self._student_depth, self._dim = None, None
        self.teacher_blocks_run = 0

    def bind(self, model) -> None:
        enc = model.encoder
        self._student_depth, self._dim = enc.depth, enc.dim
        self._student_layers = [i % enc.depth for i in self.mapping]
        self._tap = LayerTap([enc.blocks[i] for i in self._student_layers])

    def set_teacher(self, teacher) -> None:
        super().set_teacher(teacher)
        depth = teacher.encoder.depth
        self._teacher_layers = [j % depth for j in self.mapping.values()]
        self.proj = nn.ModuleList(nn.Linear(self._dim, teacher.dim) for _ in self.mapping)

    def pairs(self) -> list[tuple[int, int]]:
        """(student block, teacher block) pairs as non-negative indices."""
        return list(zip(self._student_layers, self._teacher_layers))

    def forward(self, ctx) -> dict[str, Tensor]:
        teacher = self.need_teacher()
        upto = max(self._teacher_layers)
        outs = teacher.partial(ctx.x, ctx.mask.keep, upto)
        self.teacher_blocks_run = len(outs)
        losses = []
        for k, (proj, j) in enumerate(zip(self.proj, self._teacher_layers)):
            target = F.layer_norm(outs[j], outs[j].shape[-1:])
            losses.append(F.mse_loss(proj(self._tap[k]), target))
        return {self.name: self.weight * torch.stack(losses).mean()}
