"""Teachers trained here, never downloaded: a frozen encoder from an earlier anymae run (SALT, row 54;
DMAE, row 29; MaskAlign, row 6; MR-MAE, row 13; Hybrid Distillation, row 36) or an EMA copy of the
student (data2vec / JEPA, row 26; LUT, row 7). Plus the latent targets they give."""
from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.vit import encode_tokens, encoder_inputs
from ..losses import MSELoss
from .registry import register_target
from .base import Target


class Teacher(nn.Module):
    """A tokenizer + encoder that never trains: no gradients, always in eval mode.

    `forward(x)` -> latents of every token [B,N,D] (prefix tokens dropped, after the final norm);
    `forward(x, layers=[...])` -> those blocks' outputs, each [B,N,D] (before the final norm).
    """

    def __init__(self, tokenizer: nn.Module, encoder: nn.Module):
        super().__init__()
        self.tokenizer, self.encoder = tokenizer, encoder
        self.requires_grad_(False)
        self.eval()

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def train(self, mode: bool = True) -> "Teacher":
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: Tensor, layers: Sequence[int] | None = None):
        tokens = self.tokenizer(x)
        p = self.encoder.num_prefix
        if layers is None:
            return encode_tokens(self.encoder, tokens)[:, p:]
        _, taken = encode_tokens(self.encoder, tokens, return_layers=list(layers))
        return [z[:, p:] for z in taken]

    @torch.no_grad()
    def partial(self, x: Tensor, keep: Tensor, upto: int) -> list[Tensor]:
        """Run only blocks 0..upto on the visible tokens `keep` [B,Nv] (DMAE's cheap, partial teacher).

        -> every block output up to `upto`, each [B,P+Nv,D] (prefix tokens first).
        """
        tokens = self.tokenizer(x)
        enc = self.encoder
        h, pos = enc.with_prefix(**encoder_inputs(enc, tokens, keep))
        outs = []
        for i, block in enumerate(enc.blocks[: upto + 1]):
            h = block(enc.block_input(i, h, pos))
            outs.append(h)
        return outs


class EMATeacher(Teacher):
    """An exponential moving average of the student's tokenizer + encoder (data2vec / JEPA):
    after each optimizer step, teacher <- m * teacher + (1 - m) * student."""

    def __init__(self, tokenizer: nn.Module, encoder: nn.Module, momentum: float = 0.996):
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
        super().__init__(copy.deepcopy(tokenizer), copy.deepcopy(encoder))
        self.momentum = momentum

    @torch.no_grad()
    def update(self, student_modules: Sequence[nn.Module]) -> None:
        """teacher <- m * teacher + (1 - m) * student, parameter by parameter (buffers copied)."""
        m = self.momentum
        for mine, theirs in zip((self.tokenizer, self.encoder), student_modules):
            for p_t, p_s in zip(mine.parameters(), theirs.parameters()):
                p_t.mul_(m).add_(p_s.detach(), alpha=1.0 - m)
            for b_t, b_s in zip(mine.buffers(), theirs.buffers()):
                b_t.copy_(b_s)


def normalise(z: Tensor) -> Tensor:
    """Per-token layer norm without affine parameters (the latent targets of data2vec / I-JEPA)."""
    return F.layer_norm(z, z.shape[-1:])


def target_spread(target: Tensor) -> dict[str, Tensor]:
    """Collapse guard: std of the targets across the batch, averaged over tokens and channels."""
    if target.shape[0] < 2:
        return {}
    return {"target_std": target.float().std(dim=0).mean()}


class FrozenTeacherPart(nn.Module):
    """Base for parts that read a frozen teacher from `--teacher RUN`: `set_teacher(Teacher)`.

    `teacher_index` picks which of several `--teacher` runs this part reads (Hybrid Distillation).
    """

    teacher_index: int = 0

    def __init__(self):
        super().__init__()
        self.teacher: Teacher | None = None

    def set_teacher(self, teacher: Teacher) -> None:
        self.teacher = teacher

    def need_teacher(self) -> Teacher:
        if self.teacher is None:
            raise ValueError(f"{type(self).__name__} needs a frozen teacher: pass --teacher RUN "
                             "(a finished anymae run folder)")
        return self.teacher


@register_target("teacher")
class TeacherLatentTarget(FrozenTeacherPart, Target):
    """SALT (row 54) stage 2: the frozen teacher's latents of each token [B,N,Dt], layer-normed.

    `layer=None` reads the teacher's output; an int reads that block. The teacher sees the whole,
    unmasked sample; the model gathers the hidden tokens' rows.
    """

    pixel_space = False  # predictions are not pixels: no reconstruction pictures

    def __init__(self, layer: int | None = None, norm: bool = True, dim: int | None = None, teacher_index: int = 0):
        super().__init__()
        self.layer, self.norm, self.width, self.teacher_index = layer, norm, dim, teacher_index

    def dim(self, tokenizer) -> int:
        if self.teacher is not None:
            return self.teacher.dim
        return self.width or tokenizer.dim

    def make_loss(self, tokenizer) -> nn.Module:
        return MSELoss()

    def set_teacher(self, teacher: Teacher) -> None:
        super().set_teacher(teacher)
        self.width = teacher.dim

    def forward(self, x: Tensor, tokens) -> Tensor:
        teacher = self.need_teacher()
        z = teacher(x) if self.layer is None else teacher(x, layers=[self.layer])[0]
        return normalise(z) if self.norm else z

    def monitor(self, target: Tensor) -> dict[str, Tensor]:
        return target_spread(target)

    def extra_repr(self) -> str:
        return f"layer={self.layer}, norm={self.norm}"


@register_target("ema")
class EMALatentTarget(Target):
    """Latent prediction with an EMA teacher (data2vec / JEPA; row 26): the average of the teacher's
    last `top_k` block outputs, each layer-normed, for every token of the whole sample [B,N,D].

    The teacher is a copy of the student made at `bind`, updated by `after_step` (EMA formula in
    `EMATeacher.update`); it never receives gradients. `monitor` logs the targets' spread across the
    batch (`target_std`) as a collapse guard.
    """

    pixel_space = False  # predictions are not pixels: no reconstruction pictures

    def __init__(self, momentum: float = 0.996, top_k: int = 1):
        super().__init__()
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self.momentum, self.top_k = momentum, top_k
        self.teacher: EMATeacher | None = None
        self._student: tuple = ()

    def bind(self, model) -> None:
        self.teacher = EMATeacher(model.tokenizer, model.encoder, self.momentum)
        self._student = (model.tokenizer, model.encoder)  # a tuple: not registered as submodules

    def dim(self, tokenizer) -> int:
        return tokenizer.dim

    def make_loss(self, tokenizer) -> nn.Module:
        return MSELoss()

    def forward(self, x: Tensor, tokens) -> Tensor:
        if self.teacher is None:
            raise ValueError("EMALatentTarget is not bound to a model (MaskedAutoencoder binds it)")
        depth = self.teacher.encoder.depth
        layers = list(range(depth - min(self.top_k, depth), depth))
        return torch.stack([normalise(z) for z in self.teacher(x, layers=layers)]).mean(0)

    def after_step(self) -> None:
        if self.teacher is not None and self._student:
            self.teacher.update(self._student)

    def monitor(self, target: Tensor) -> dict[str, Tensor]:
        return target_spread(target)

    def extra_repr(self) -> str:
        return f"momentum={self.momentum}, top_k={self.top_k}"


def teacher_parts(model) -> list[FrozenTeacherPart]:
    """The parts of a model that read a frozen teacher."""
    return [m for m in model.modules() if isinstance(m, FrozenTeacherPart)]


def check_fits(student, teacher_model, name: str) -> None:
    """Raise ValueError when a teacher's tokens do not line up with the student's."""
    s, t = student.tokenizer, teacher_model.tokenizer
    for what in ("patch_size", "image_size", "channels", "grid"):
        a, b = getattr(s, what, None), getattr(t, what, None)
        if a != b:
            raise ValueError(f"teacher {name}: its {what} {b} does not fit the student's {a} "
                             f"(train the teacher with the same image size, patch size and channels)")


def attach_teachers(model, teachers: Sequence, names: Sequence[str] | None = None) -> None:
    """Give each frozen-teacher part its teacher (a MaskedAutoencoder from an earlier run).

    Part `i` reads `teachers[min(part.teacher_index, len - 1)]`. When the target's width changes to
    the teacher's, the decoder's output layer is re-made at that width.
    """
    names = list(names or [f"#{i}" for i in range(len(teachers))])
    parts = teacher_parts(model)
    if not parts:
        raise ValueError("this recipe has no part that reads a frozen teacher; drop --teacher "
                         "(or use --target teacher)")
    if not teachers:
        raise ValueError("a frozen teacher is needed: pass --teacher RUN")
    for t, name in zip(teachers, names):
        if not all(getattr(part, "cross_modal", False) for part in parts):  # I2P-MAE: an image teacher for points
            check_fits(model, t, name)
    wrapped = [Teacher(copy.deepcopy(t.tokenizer), copy.deepcopy(t.encoder)) for t in teachers]
    for part in parts:
        part.set_teacher(wrapped[min(part.teacher_index, len(wrapped) - 1)])
    pred = getattr(model.decoder, "pred", None)
    out_dim = model.target.dim(model.tokenizer)
    if isinstance(pred, nn.Linear) and pred.out_features != out_dim:
        model.decoder.pred = nn.Linear(pred.in_features, out_dim)
