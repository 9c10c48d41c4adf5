"""Hybrid Distillation (row 36): features of one teacher + token relations (attention maps) of an MIM
teacher. The feature term is `TeacherLatentTarget` (teacher 0); this file holds the relation term."""
from __future__ import annotations

import torch
from torch import Tensor

from ..encoders.vit import encoder_inputs
from .tap import LayerTap, attention_map
from ..targets.teacher import FrozenTeacherPart
from .base import ExtraTerm
from .registry import TERMS


@TERMS.register("token_relation")
class TokenRelation(FrozenTeacherPart, ExtraTerm):
    """weight * KL(teacher attention || student attention) at block `layer`, over the visible tokens.

    Both attention maps are head-averaged [B,P+Nv,P+Nv]; the MIM teacher (`teacher_index`, default 1:
    the second `--teacher`) runs on the same visible tokens as the student.
    """

    def __init__(self, layer: int = -1, weight: float = 1.0, teacher_index: int = 1, name: str = "relation"):
        super().__init__()
        self.layer, self.weight, self.teacher_index, self.name = layer, weight, teacher_index, name
        self._tap: LayerTap | None = None

    def bind(self, model) -> None:
        self._block_index = self.layer % model.encoder.depth
        self._tap = LayerTap([model.encoder.blocks[self._block_index]], inputs=True)
        self._blocks = (model.encoder.blocks,)  # not registered: the student's own blocks

    def teacher_relation(self, x: Tensor, keep: Tensor) -> Tensor:
        """The MIM teacher's head-averaged attention at `layer` on the visible tokens."""
        teacher = self.need_teacher()
        j = self.layer % teacher.encoder.depth
        with torch.no_grad():
            tokens = teacher.tokenizer(x)
            enc = teacher.encoder
            h, pos = enc.with_prefix(**encoder_inputs(enc, tokens, keep))
            for i, block in enumerate(enc.blocks[:j]):
                h = block(enc.block_input(i, h, pos))
            return attention_map(enc.blocks[j], enc.block_input(j, h, pos)).mean(1)

    def student_relation(self) -> Tensor:
        return attention_map(self._blocks[0][self._block_index], self._tap[0]).mean(1)

    def forward(self, ctx) -> dict[str, Tensor]:
        t = self.teacher_relation(ctx.x, ctx.mask.keep)
        s = self.student_relation()
        if s.shape != t.shape:
            raise ValueError(f"relation maps differ in shape: student {tuple(s.shape)}, teacher {tuple(t.shape)} "
                             "(student and MIM teacher must both have, or both lack, a cls token)")
        kl = (t * (t.clamp_min(1e-8).log() - s.clamp_min(1e-8).log())).sum(-1).mean()
        return {self.name: self.weight * kl}
