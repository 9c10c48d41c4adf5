"""Joints and edges (SkeletonMAE, PAPERS.md row 18: "reconstructs the masked skeleton joints and edges"): the
target of a (segment, joint) token is the joint's coordinates over the segment and its bone, the vector from its
parent joint (breadth-first tree of the graph from joint 0) over the same frames."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..tokenizers.skeleton import parent_joints
from .base import Target
from .registry import register_target


@register_target("joints_edges")
class JointEdgeTarget(Target):
    """tokens.values [B,N,l*C] of a `SkeletonTokenizer` -> [B,N,2*l*C]: the joint's values, then its bone's."""

    def __init__(self):
        super().__init__()
        self.joints: int | None = None
        self.parent: Tensor | None = None

    def bind(self, model) -> None:
        tok = model.tokenizer
        if not hasattr(tok, "edges"):
            raise ValueError("the joints_edges target needs a skeleton tokenizer (its graph gives the bones)")
        self.joints = tok.joints
        self.parent = parent_joints(tok.joints, tok.edges)

    def dim(self, tokenizer) -> int:
        return 2 * tokenizer.patch_dim

    def make_loss(self, tokenizer) -> nn.Module:
        from ..losses import MSELoss
        return MSELoss()

    def forward(self, x: Tensor, tokens) -> Tensor:
        values = tokens.values                                                  # [B,S*J,P]
        b, n, p = values.shape
        grid = values.reshape(b, n // self.joints, self.joints, p)
        bones = grid - grid[:, :, self.parent.to(values.device)]
        return torch.cat([values, bones.reshape(b, n, p)], dim=-1)

    def invert(self, pred: Tensor, values: Tensor) -> Tensor:
        """The joints' half of the predictions (what pictures draw)."""
        return pred[..., :values.shape[-1]]



@register_target("joint_motion")
class JointMotionTarget(Target):
    """tokens.values [B,N,l*C] of a `SkeletonTokenizer` -> [B,N,2*l*C] (or [B,N,l*C] without `appearance`):
    the joint's coordinates over its segment, then its motion over the same frames, x[t] - x[t-1] of the whole
    sequence (0 at the first frame), scaled by `motion_scale`.

    MAMP (Mao et al. 2023, "Masked Motion Predictors are Strong 3D Action Representation Learners") showed that
    predicting the hidden joints' motion instead of their coordinates is what makes skeleton MAEs learn actions;
    the coordinates stay in the target so that pictures can be drawn. `motion_scale` brings the frame differences
    to the coordinates' scale (on `skeleton-actions` at 32 frames: std 0.18 against 0.57), so the two parts weigh
    about alike in the MSE.
    """

    def __init__(self, appearance: bool = True, motion_scale: float = 3.0):
        super().__init__()
        self.appearance, self.motion_scale = appearance, motion_scale
        self.pixel_space = appearance
        self.joints = self.segment = self.channels = None

    def bind(self, model) -> None:
        tok = model.tokenizer
        if not hasattr(tok, "edges") or not hasattr(tok, "segment"):
            raise ValueError("the joint_motion target needs a skeleton tokenizer (joint sequences in segments)")
        self.joints, self.segment, self.channels = tok.joints, tok.segment, tok.channels

    def dim(self, tokenizer) -> int:
        return (2 if self.appearance else 1) * tokenizer.patch_dim

    def forward(self, x: Tensor, tokens) -> Tensor:
        values = tokens.values                                                  # [B,S*J,l*C]
        b, n, p = values.shape
        s, l, j, c = n // self.joints, self.segment, self.joints, self.channels
        seq = values.reshape(b, s, j, l, c).permute(0, 1, 3, 2, 4).reshape(b, s * l, j, c)   # [B,T,J,C]
        motion = torch.cat([torch.zeros_like(seq[:, :1]), seq[:, 1:] - seq[:, :-1]], dim=1) * self.motion_scale
        motion = motion.reshape(b, s, l, j, c).permute(0, 1, 3, 2, 4).reshape(b, n, p)
        return torch.cat([values, motion], dim=-1) if self.appearance else motion

    def invert(self, pred: Tensor, values: Tensor) -> Tensor:
        """The joints' half of the predictions (what pictures draw)."""
        if not self.appearance:
            raise ValueError("the joint_motion target without appearance has no coordinates to draw")
        return pred[..., :values.shape[-1]]

    def extra_repr(self) -> str:
        return f"appearance={self.appearance}, motion_scale={self.motion_scale}"
