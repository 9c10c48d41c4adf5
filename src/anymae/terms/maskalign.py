"""MaskAlign (row 6): no reconstruction of hidden tokens; the student's visible-token features are aligned
with a frozen teacher's features of the intact image, through Dynamic Alignment (DA) across layers."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..tokenizers.base import gather_tokens
from .tap import LayerTap
from ..targets.teacher import FrozenTeacherPart, normalise
from .base import ExtraTerm
from .registry import TERMS


@TERMS.register("dynamic_alignment")
class DynamicAlignment(FrozenTeacherPart, ExtraTerm):
    """For each teacher layer j: prediction_j = sum_i softmax(w_j)_i * adapter_i(student layer i),
    over visible tokens only; loss = weight * mean_j || prediction_j - LN(teacher layer j) ||^2.

    `student_layers` / `teacher_layers`: block indices (negative from the end; those past a shallow
    encoder's depth are dropped, so a 2-block model aligns its 2 blocks). The learnable
    weights `w` [J,I] are DA's dynamic choice of which student layer answers which teacher layer.
    """

    def __init__(self, student_layers=(-3, -2, -1), teacher_layers=(-3, -2, -1), weight: float = 1.0,
                 teacher_index: int = 0, name: str = "align_visible"):
        super().__init__()
        self.student_layers, self.teacher_layers = list(student_layers), list(teacher_layers)
        self.weight, self.teacher_index, self.name = weight, teacher_index, name
        self.adapters: nn.ModuleList | None = None
        self.mix: nn.Parameter | None = None
        self._tap: LayerTap | None = None
        self._prefix, self._dim = 1, None

    def bind(self, model) -> None:
        enc = model.encoder
        self.student_layers = fit_layers(self.student_layers, enc.depth)
        self._tap = LayerTap([enc.blocks[i] for i in self.student_layers])
        self._prefix, self._dim = enc.num_prefix, enc.dim

    def set_teacher(self, teacher) -> None:
        super().set_teacher(teacher)
        self.teacher_layers = fit_layers(self.teacher_layers, teacher.encoder.depth)
        self.mix = nn.Parameter(torch.zeros(len(self.teacher_layers), len(self.student_layers)))
        self.adapters = nn.ModuleList(nn.Linear(self._dim, teacher.dim) for _ in self.student_layers)

    def forward(self, ctx) -> dict[str, Tensor]:
        teacher = self.need_teacher()
        keep = ctx.mask.keep
        targets = [gather_tokens(normalise(z), keep) for z in teacher(ctx.x, layers=self.teacher_layers)]
        student = torch.stack([a(F.layer_norm(self._tap[i][:, self._prefix:], (self._dim,)))
                               for i, a in enumerate(self.adapters)])                       # [I,B,Nv,Dt]
        weights = self.mix.softmax(dim=1)                                                    # [J,I]
        preds = torch.einsum("ji,ibnd->jbnd", weights, student)
        loss = torch.stack([F.mse_loss(p, t) for p, t in zip(preds, targets)]).mean()
        return {self.name: self.weight * loss}


def fit_layers(layers, depth: int) -> list[int]:
    """Block indices that exist in a `depth`-block encoder, as non-negative, in order, without repeats."""
    kept = sorted({i % depth for i in layers if -depth <= i < depth})
    if not kept:
        raise ValueError(f"none of the layers {list(layers)} exists in a {depth}-block encoder")
    return kept
