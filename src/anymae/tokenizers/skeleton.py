"""Skeleton sequences (SkeletonMAE, PAPERS.md row 18): joints [B,T,J,C] (2-D or 3-D) and the skeleton's graph
-> one token per (time segment, joint): the joint's C coordinates over `segment` frames.

The graph (edges between joints, body parts) travels with the tokenizer: the masker reads its body parts and the
graph-biased encoder its hop distances. The default graph is the 25-joint Kinect v2 layout of NTU RGB+D.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_finite
from .position import GridPosition

# NTU RGB+D's 25 Kinect v2 joints (0-based): 0 spine base, 1 spine middle, 2 neck, 3 head, 4-7 left shoulder,
# elbow, wrist, hand, 8-11 right shoulder, elbow, wrist, hand, 12-15 left hip, knee, ankle, foot, 16-19 right
# hip, knee, ankle, foot, 20 spine at the shoulders, 21 left hand tip, 22 left thumb, 23 right hand tip,
# 24 right thumb. Bones as ST-GCN's `ntu_rgb_d` graph.
NTU_JOINTS = 25
NTU_EDGES = ((0, 1), (1, 20), (2, 20), (3, 2), (4, 20), (5, 4), (6, 5), (7, 6), (8, 20), (9, 8), (10, 9), (11, 10),
             (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16), (18, 17), (19, 18), (21, 22), (22, 7),
             (23, 24), (24, 11))
# body parts (SkeletonMAE partitions the joints by the body's natural structure): torso + head, two arms, two legs
NTU_PARTS = ((0, 1, 2, 3, 20), (4, 5, 6, 7, 21, 22), (8, 9, 10, 11, 23, 24), (12, 13, 14, 15), (16, 17, 18, 19))


def check_graph(joints: int, edges, parts=None) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, ...], ...]]:
    """Validate a skeleton graph -> (edges, parts) as tuples; parts default to one per joint when not given."""
    if joints < 2:
        raise ValueError(f"a skeleton needs at least 2 joints, got {joints}")
    edges = tuple((int(a), int(b)) for a, b in edges)
    for a, b in edges:
        if not (0 <= a < joints and 0 <= b < joints) or a == b:
            raise ValueError(f"skeleton edge ({a}, {b}) does not join two of the {joints} joints (0-based)")
    if parts is None:
        parts = tuple((j,) for j in range(joints))
    parts = tuple(tuple(int(j) for j in p) for p in parts)
    flat = sorted(j for p in parts for j in p)
    if flat != list(range(joints)):
        raise ValueError(f"skeleton body parts must hold every joint 0..{joints - 1} exactly once, got {list(parts)}")
    return edges, parts


def default_graph(joints: int, edges=None, parts=None):
    """(edges, parts) for `joints`: the NTU RGB+D graph for 25 joints when none is given."""
    if edges is None:
        if joints != NTU_JOINTS:
            raise ValueError(f"a {joints}-joint skeleton needs its edges (the default graph is NTU RGB+D's 25 joints)")
        edges, parts = NTU_EDGES, NTU_PARTS if parts is None else parts
    return check_graph(joints, edges, parts)


def hop_distances(joints: int, edges) -> Tensor:
    """[J,J] shortest-path hop counts over the undirected skeleton graph (J+1 where no path joins two joints)."""
    adjacency = torch.zeros(joints, joints, dtype=torch.bool)
    for a, b in edges:
        adjacency[a, b] = adjacency[b, a] = True
    hops = torch.full((joints, joints), joints + 1, dtype=torch.long)
    reached = torch.eye(joints, dtype=torch.bool)
    hops[reached] = 0
    for step in range(1, joints):
        grown = reached | (reached.float() @ adjacency.float() > 0)
        hops[grown & ~reached] = step
        if torch.equal(grown, reached):
            break
        reached = grown
    return hops


class SkeletonTokenizer(Tokenizer):
    """Joint sequences [B,T,J,C] -> (T/segment) x J tokens, each one joint's C coordinates over `segment` frames.

    values [B,N,segment*C] laid out (frame, coordinate); token n = s*J + j (segment s, joint j), grid (T/segment, J);
    embed: one linear map shared by every joint; pos: fixed 2-D sin-cos over (segment, joint index), or learnable.
    """

    def __init__(self, frames: int = 64, joints: int = NTU_JOINTS, channels: int = 3, segment: int = 4,
                 edges=None, parts=None, dim: int = 256, learnable_pos: bool = False):
        super().__init__()
        if frames % segment or segment < 1:
            raise ValueError(f"{frames} frames are not divisible by the segment length {segment}")
        if channels not in (2, 3):
            raise ValueError(f"skeleton joints have 2 or 3 coordinates, got channels={channels}")
        self.edges, self.parts = default_graph(joints, edges, parts)
        self.frames, self.joints, self.channels, self.segment, self.dim = frames, joints, channels, segment, dim
        self.grid = (frames // segment, joints)
        self.patch_dim = segment * channels
        self.proj = nn.Linear(self.patch_dim, dim)
        self.pos = GridPosition(dim, self.grid, learnable=learnable_pos)

    @property
    def joint_of_token(self) -> Tensor:
        """[N] the joint of every token."""
        return torch.arange(self.num_tokens) % self.joints

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"frames": 8, "joints": 25, "channels": 3, "segment": 2, "dim": 16},
                {"frames": 6, "joints": 3, "channels": 2, "segment": 3, "edges": [[0, 1], [1, 2]], "dim": 8}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.frames, self.joints, self.channels, generator=generator)

    def check_input(self, x) -> None:
        if not isinstance(x, Tensor):
            raise ValueError(f"expected joint sequences as a torch.Tensor [B,T,J,C], got {type(x).__name__}")
        want = (self.frames, self.joints, self.channels)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"expected joint sequences [B,{want[0]},{want[1]},{want[2]}] (frames, joints, "
                             f"coordinates), got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"expected floating-point joint coordinates, got {x.dtype}")
        if x.shape[0] == 0:
            raise ValueError("expected at least one joint sequence, got an empty batch")
        check_finite(x, "joint sequences")

    def patchify(self, x: Tensor) -> Tensor:
        """x [B,T,J,C] -> values [B,(T/l)*J,l*C]."""
        b = x.shape[0]
        s, l = self.frames // self.segment, self.segment
        x = x.reshape(b, s, l, self.joints, self.channels).permute(0, 1, 3, 2, 4)    # [B,S,J,l,C]
        return x.reshape(b, s * self.joints, l * self.channels)

    def unpatchify(self, values: Tensor) -> Tensor:
        """values [B,N,l*C] -> joint sequences [B,T,J,C]."""
        b = values.shape[0]
        s, l = self.frames // self.segment, self.segment
        x = values.reshape(b, s, self.joints, l, self.channels).permute(0, 1, 3, 2, 4)
        return x.reshape(b, self.frames, self.joints, self.channels)

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return GridPosition(dim, self.grid, learnable=learnable)

    def forward(self, x: Tensor) -> Tokens:
        self.check_input(x)
        values = self.patchify(x.to(self.proj.weight.dtype))
        return Tokens(values=values, embed=self.proj(values), pos=self.pos(), grid=self.grid)

    def extra_repr(self) -> str:
        return f"frames={self.frames}, joints={self.joints}, channels={self.channels}, segment={self.segment}"


def parent_joints(joints: int, edges, root: int = 0) -> Tensor:
    """[J] each joint's parent on the breadth-first tree of the graph from `root` (the root, and joints no bone
    reaches, are their own parents)."""
    neighbours: dict[int, list[int]] = {j: [] for j in range(joints)}
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    parent = list(range(joints))
    seen, queue = {root}, [root]
    while queue:
        j = queue.pop(0)
        for k in sorted(neighbours[j]):
            if k not in seen:
                seen.add(k)
                parent[k] = j
                queue.append(k)
    return torch.tensor(parent)
