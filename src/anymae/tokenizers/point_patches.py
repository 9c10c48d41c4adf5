"""Continuous point-cloud tokens for masked generation (MAR-3D, PAPERS.md row 51): a cloud as a set of local
patches, each token a real vector, no codebook and nothing to train.

A cloud [B,N,3] -> G tokens, one a group (Point-MAE's grouping, `tokenizers/points.py`): the G centres of
farthest point sampling, in the order FPS picks them, and the k nearest points of each centre relative to it,
nearest first. A token is [centre (3), offsets (k x 3)], so `decode` is exact: centre + offsets gives the
group's k points back, and the G groups together are a cloud of G x k points (groups of neighbours may share
points; a surface of G well-spread patches).

Why raw patches rather than a trained latent (MAR-3D's pyramid VAE): this is MAR's "pixels of patches" option
for points; the generator is one run with no tokenizer to train, its decoding is exact, so every error in a
sample is the generator's. FPS order gives the tokens a canonical index (token 0 at the seed point, token 1
farthest from it, ...) that the generator's learned position embedding reads.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .points import farthest_point_sample, gather_points, knn_indices


class PointPatchTokenizer(nn.Module):
    """Clouds [B,N,3] <-> tokens [B,G,3+3k]: FPS centres (FPS order) + each centre's k nearest points relative to it."""

    kind = "tokenizer"
    trainable = False   # a generator over it needs no tokenizer run

    def __init__(self, num_points: int = 256, num_groups: int = 32, group_size: int = 8):
        super().__init__()
        if num_groups <= 0 or group_size <= 0:
            raise ValueError(f"num_groups={num_groups}, group_size={group_size}: must be positive")
        if num_groups > num_points or group_size > num_points:
            raise ValueError(f"{num_groups} groups of {group_size} points need num_points >= both, got {num_points}")
        self.num_points, self.num_groups, self.group_size = num_points, num_groups, group_size

    @property
    def tokenizer(self) -> "PointPatchTokenizer":
        return self

    @property
    def num_tokens(self) -> int:
        return self.num_groups

    @property
    def token_dim(self) -> int:
        return 3 + 3 * self.group_size

    @property
    def output_points(self) -> int:
        """Points in a decoded cloud: G x k."""
        return self.num_groups * self.group_size

    def encode(self, x: Tensor) -> Tensor:
        """clouds [B,N,3] -> tokens [B,G,3+3k] (centre, then offsets of the k nearest points, nearest first)."""
        if x.ndim != 3 or x.shape[-1] != 3 or x.shape[1] != self.num_points:
            raise ValueError(f"tokenizer expects point clouds [B,{self.num_points},3], got {list(x.shape)}")
        x = x.float()
        centres = gather_points(x, farthest_point_sample(x, self.num_groups))               # [B,G,3]
        offsets = gather_points(x, knn_indices(centres, x, self.group_size)) - centres.unsqueeze(2)
        return torch.cat([centres, offsets.flatten(2)], -1)

    def decode(self, tokens: Tensor) -> Tensor:
        """tokens [B,G,3+3k] -> clouds [B,G*k,3]."""
        b, g = tokens.shape[:2]
        centres, offsets = tokens[..., :3], tokens[..., 3:].reshape(b, g, self.group_size, 3)
        return (centres.unsqueeze(2) + offsets).reshape(b, g * self.group_size, 3)
