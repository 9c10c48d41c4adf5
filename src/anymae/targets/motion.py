"""Motion targets for video (MotionMAE-style; issue 26): each hidden tubelet's normalised pixels and the
normalised differences between its consecutive frames, so the model is asked where things move, not only
what they look like."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import Target
from .registry import register_target


def normalise(values: Tensor, eps: float) -> Tensor:
    """Zero mean, unit variance along the last axis ([..., K] -> [..., K]); eps floors the variance."""
    mean, var = values.mean(-1, keepdim=True), values.var(-1, keepdim=True)
    return (values - mean) / (var + eps) ** 0.5


@register_target("motion")
class MotionTarget(Target):
    """Tubelets [B,N,t*p*p*C] (laid out (t, p, p, C)) -> [B,N,T]: the per-tubelet normalised pixels
    (`appearance`, VideoMAE's target; P values) followed by the normalised frame differences inside the
    tubelet (frame i+1 - frame i; (t-1)*p*p*C values).

    The difference part is normalised per tubelet with a variance floor `motion_eps` (in the data's
    normalised units), so a still tubelet's zero difference stays zero instead of being blown up.
    Needs a video tokenizer with `tubelet` >= 2 frames.
    """

    def __init__(self, appearance: bool = True, eps: float = 1e-6, motion_eps: float = 1e-2):
        super().__init__()
        self.appearance, self.eps, self.motion_eps = appearance, eps, motion_eps
        self.pixel_space = appearance  # pictures need the pixel part
        self.tubelet = None

    def frames_per_token(self, tokenizer) -> int:
        t = getattr(tokenizer, "tubelet", None)
        if not t or t < 2:
            raise ValueError("target 'motion' needs video tubelets of at least 2 frames "
                             f"(tokenizer {type(tokenizer).__name__} has tubelet={t})")
        return int(t)

    def dim(self, tokenizer) -> int:
        t = self.frames_per_token(tokenizer)
        frame = tokenizer.patch_dim // t
        return (tokenizer.patch_dim if self.appearance else 0) + (t - 1) * frame

    def bind(self, model) -> None:
        self.tubelet = self.frames_per_token(model.tokenizer)

    def forward(self, x: Tensor, tokens) -> Tensor:
        values = tokens.values
        b, n, pdim = values.shape
        frames = values.reshape(b, n, self.tubelet, pdim // self.tubelet)
        motion = normalise((frames[:, :, 1:] - frames[:, :, :-1]).reshape(b, n, -1), self.motion_eps)
        if not self.appearance:
            return motion
        return torch.cat([normalise(values, self.eps), motion], dim=-1)

    def invert(self, pred: Tensor, values: Tensor) -> Tensor:
        """The pixel part back to values with each tubelet's own mean and std (values [B,N,P])."""
        if not self.appearance:
            raise ValueError("target 'motion' without appearance has no pixel part to draw")
        pixels = pred[..., :values.shape[-1]]
        mean, var = values.mean(-1, keepdim=True), values.var(-1, keepdim=True)
        return pixels * (var + self.eps) ** 0.5 + mean

    def extra_repr(self) -> str:
        return f"appearance={self.appearance}, motion_eps={self.motion_eps}"
