"""HiCMAE's frame-difference video target (row 16; its code's `--use_frame_diff_as_target`, set in
`pretrain_base.sh`): each tubelet's pixels are normalised as VideoMAE's, then inside each group of `group`
frames the first frame is kept and every later frame becomes its difference from that first one. Same width as
the pixels, so the decoder and loss are unchanged; the hidden tubelets' motion becomes part of what is asked."""
from __future__ import annotations

from torch import Tensor

from .base import Target
from .pixel import PixelTarget


class FrameDiffTarget(Target):
    """Tubelets [B,N,t*p*p*C] (laid out (t, p, p, C)) -> [B,N,t*p*p*C]: normalised per tubelet (`norm`), then
    frame k of each group of `group` frames -> frame k - frame 0 of its group (frame 0 stays). `tubelet` (t) is
    read from the video tokenizer (`bind`, or set by the recipe); t must be a multiple of `group`."""

    def __init__(self, group: int = 2, norm: bool = True, eps: float = 1e-6):
        super().__init__()
        if group < 2:
            raise ValueError(f"frame-difference target: group must be at least 2 frames, got {group}")
        self.group = group
        self.pixels = PixelTarget(norm=norm, eps=eps)  # the per-tubelet normalisation and its inverse
        self.tubelet: int | None = None

    def frames_per_token(self, tokenizer) -> int:
        t = getattr(tokenizer, "tubelet", None)
        if not t or t % self.group:
            raise ValueError(f"frame-difference target: tubelets of {t} frames are not groups of {self.group} "
                             f"(tokenizer {type(tokenizer).__name__})")
        return int(t)

    def dim(self, tokenizer) -> int:
        return tokenizer.patch_dim

    def bind(self, model) -> None:
        if self.tubelet is None:
            self.tubelet = self.frames_per_token(model.tokenizer)

    def _frames(self, values: Tensor) -> Tensor:
        """[B,N,t*F] -> [B,N,t/group,group,F]."""
        b, n, width = values.shape
        return values.reshape(b, n, self.tubelet // self.group, self.group, width // self.tubelet)

    def forward(self, x, tokens) -> Tensor:
        values = self.pixels(x, tokens)                                         # normalised per tubelet (`norm`)
        frames = self._frames(values)
        first = frames[:, :, :, :1]
        diff = frames - first
        diff[:, :, :, :1] = first
        return diff.reshape(values.shape)

    def invert(self, pred: Tensor, values: Tensor) -> Tensor:
        """Differences back to frames (frame k = diff k + frame 0), then each tubelet's own mean and std."""
        frames = self._frames(pred).clone()
        frames[:, :, :, 1:] = frames[:, :, :, 1:] + frames[:, :, :, :1]
        return self.pixels.invert(frames.reshape(pred.shape), values)

    def extra_repr(self) -> str:
        return f"group={self.group}"
