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

