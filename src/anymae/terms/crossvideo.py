"""CrossVideoMAE (PAPERS.md row 39): video MAE plus contrastive alignment between a clip and frames sampled
from it, at the video level and at the frame level.

For every clip `frames` frames are sampled (from distinct tubelet time slots). Each frame is encoded as an
image through the same tokenizer and encoder (a static clip: the frame repeated over time, masked by the
model's own masker) and mean-pooled over its visible tokens. Two InfoNCE terms, each on its own projector:

  video level  the clip's pooled visible tokens  <->  the mean of its frames' features   (positive: same clip)
  frame level  the clip's visible tokens of the frame's time slot, pooled  <->  that frame's feature
               (positive: the same clip and the same frame; every other frame of the batch is a negative)

Choices of ours (CrossVideoMAE's code is not in the reference store): one shared encoder for clips and
frames, 2 frames per clip, temperature 0.1, 2-layer projectors to 128-d, both weights 1.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..masking.base import uniform
from .base import ExtraTerm
from .invariance import info_nce
from .registry import TERMS


def projector(dim: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, out))


def sample_frames(batch: int, slots: int, tubelet: int, count: int, generator, device) -> Tensor:
    """-> frame indices [B,count] from `count` distinct time slots of each clip (a random frame in each)."""
    if count > slots:
        raise ValueError(f"cross-video term: {count} frames per clip need as many time slots, the clip has {slots}")
    slot = torch.argsort(uniform((batch, slots), generator, device), dim=1)[:, :count]
    offset = (uniform((batch, count), generator, device) * tubelet).long().clamp(max=tubelet - 1)
    return slot * tubelet + offset


@TERMS.register("cross_video")
class CrossVideoContrast(ExtraTerm):
    """Adds weight * `video_frame_contrast` (video level) and frame_weight * `frame_contrast` (frame level)."""

    def __init__(self, weight: float = 1.0, frame_weight: float = 1.0, frames: int = 2, temperature: float = 0.1,
                 proj_dim: int = 128):
        super().__init__()
        self.weight, self.frame_weight, self.frames = weight, frame_weight, frames
        self.temperature, self.proj_dim = temperature, proj_dim
        self.video_head: nn.Module | None = None
        self.frame_head: nn.Module | None = None

    def bind(self, model) -> None:
        tok = model.tokenizer
        if not hasattr(tok, "tubelet") or len(tok.grid) != 3:
            raise ValueError("the cross-video term needs a video tokenizer (tubelets over a time x height x width grid)")
        self.video_head = projector(model.encoder.dim, self.proj_dim)
        self.frame_head = projector(model.encoder.dim, self.proj_dim)

    def pairs(self, ctx) -> dict[str, Tensor]:
        """What the two terms compare. clip features [B,D]; frame features [B,F,D] (each frame encoded as
        an image); slot features [B,F,D] (the clip's visible tokens of each frame's time slot, pooled);
        frame [B,F] the sampled frame indices; slot [B,F] their time slots."""
        model, x, p = ctx.model, ctx.x, ctx.model.encoder.num_prefix
        tok = model.tokenizer
        slots, per_slot = tok.grid[0], tok.grid[1] * tok.grid[2]
        b = x.shape[0]
        frame = sample_frames(b, slots, tok.tubelet, self.frames, ctx.generator, x.device)        # [B,F]
        visible = ctx.latents[:, p:]                                                               # [B,Nv,D]
        time_of = torch.div(ctx.mask.keep, per_slot, rounding_mode="floor")                       # [B,Nv]
        slot = torch.div(frame, tok.tubelet, rounding_mode="floor")
        in_slot = (time_of.unsqueeze(1) == slot.unsqueeze(2)).to(visible.dtype)                    # [B,F,Nv]
        slot_features = in_slot @ visible / in_slot.sum(-1, keepdim=True).clamp_min(1.0)
        pictures = x[torch.arange(b, device=x.device).unsqueeze(1), :, frame]                      # [B,F,C,H,W]
        static = pictures.flatten(0, 1).unsqueeze(2).expand(-1, -1, x.shape[2], -1, -1)           # [BF,C,T,H,W]
        tokens = model.tokenize(static)
        mask = model.draw_mask(tokens, ctx.generator)
        frame_features = model.encode_visible(tokens, mask.keep)[:, p:].mean(1).reshape(b, self.frames, -1)
        return {"clip": visible.mean(1), "frames": frame_features, "slots": slot_features, "frame": frame,
                "slot": slot, "pictures": pictures}

    def forward(self, ctx) -> dict[str, Tensor]:
        got = self.pairs(ctx)
        video = info_nce(self.video_head(got["clip"]), self.video_head(got["frames"].mean(1)), self.temperature)
        frame = info_nce(self.frame_head(got["slots"].flatten(0, 1)), self.frame_head(got["frames"].flatten(0, 1)),
                         self.temperature)
        return {"video_frame_contrast": self.weight * video, "frame_contrast": self.frame_weight * frame}

    def extra_repr(self) -> str:
        return f"weight={self.weight}, frame_weight={self.frame_weight}, frames={self.frames}"
