"""Point groups (Point-MAE, PAPERS.md row 10): FPS centres + kNN neighbourhoods -> one token per group.

A cloud [B,N,3] becomes G tokens: G centres by farthest point sampling, the k nearest points of
each centre expressed relative to it, a mini-PointNet embedding of each group and a small MLP on
the centre as its position (Point-MAE's `Group`, `Encoder` and `pos_embed`).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_finite


def farthest_point_sample(points: Tensor, count: int, start: Tensor | None = None) -> Tensor:
    """points [B,N,3] -> indices [B,count] of farthest point sampling, batched.

    Each step picks the point farthest from those already picked (pointnet2's
    `furthest_point_sample`); it starts at index `start` [B] (default 0, as pointnet2).
    One loop over `count` steps; every step is a [B,N] tensor operation.
    """
    b, n, _ = points.shape
    if not 0 < count <= n:
        raise ValueError(f"cannot sample {count} centres from {n} points")
    index = torch.empty(b, count, dtype=torch.long, device=points.device)
    current = start if start is not None else torch.zeros(b, dtype=torch.long, device=points.device)
    nearest = torch.full((b, n), float("inf"), dtype=points.dtype, device=points.device)  # to the picked set
    rows = torch.arange(b, device=points.device)
    for i in range(count):
        index[:, i] = current
        picked = points[rows, current].unsqueeze(1)                          # [B,1,3]
        nearest = torch.minimum(nearest, (points - picked).pow(2).sum(-1))  # [B,N]
        current = nearest.argmax(dim=1)
    return index


def knn_indices(queries: Tensor, points: Tensor, k: int) -> Tensor:
    """queries [B,G,3], points [B,N,3] -> indices [B,G,k] of each query's k nearest points, nearest first."""
    if not 0 < k <= points.shape[1]:
        raise ValueError(f"cannot take {k} neighbours from {points.shape[1]} points")
    dist = torch.cdist(queries, points, compute_mode="donot_use_mm_for_euclid_dist")  # [B,G,N], exact
    return dist.topk(k, dim=-1, largest=False, sorted=True).indices


def gather_points(points: Tensor, index: Tensor) -> Tensor:
    """points [B,N,C], index [B,...] -> [B,...,C]."""
    b, c = points.shape[0], points.shape[-1]
    flat = index.reshape(b, -1)
    out = torch.gather(points, 1, flat.unsqueeze(-1).expand(-1, -1, c))
    return out.reshape(*index.shape, c)


class SharedMLP(nn.Module):
    """Per-point linear -> BatchNorm -> ReLU -> linear (a PointNet "shared MLP", i.e. 1x1 convolutions,
    written as matrix products, which are several times faster than Conv1d on CPU): [M,k,a] -> [M,k,c]."""

    def __init__(self, a: int, b: int, c: int):
        super().__init__()
        self.first, self.norm, self.second = nn.Linear(a, b), nn.BatchNorm1d(b), nn.Linear(b, c)

    def forward(self, x: Tensor) -> Tensor:
        h = self.first(x)
        h = self.norm(h.flatten(0, 1)).view_as(h)
        return self.second(torch.relu(h))


class MiniPointNet(nn.Module):
    """Point-MAE's group encoder: shared MLP, max-pool, concat global feature, shared MLP, max-pool.

    groups [M,k,3] -> embeddings [M,dim]; widths (w, 2w | 4w, 4w, dim) with w = 128 in Point-MAE.
    The second MLP's first layer acting on [global, local] is written as two linears on the parts
    (the same function, without building the concatenated [M,k,4w] tensor).
    """

    def __init__(self, dim: int, width: int = 128):
        super().__init__()
        self.first = SharedMLP(3, width, 2 * width)
        self.local = nn.Linear(2 * width, 4 * width)
        self.glob = nn.Linear(2 * width, 4 * width, bias=False)
        self.norm = nn.BatchNorm1d(4 * width)
        self.out = nn.Linear(4 * width, dim)

    def forward(self, groups: Tensor) -> Tensor:
        x = self.first(groups)                                               # [M,k,2w]
        h = self.local(x) + self.glob(x.max(dim=1, keepdim=True).values)     # [M,k,4w]
        h = self.norm(h.flatten(0, 1)).view_as(h)
        return self.out(torch.relu(h)).max(dim=1).values


class CentrePosition(nn.Module):
    """Tokens -> [B,G,dim]: Point-MAE's position embedding, an MLP on each group's centre (`tokens.coords`)."""

    def __init__(self, dim: int, hidden: int = 128):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(3, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, tokens: Tokens) -> Tensor:
        if tokens is None or tokens.coords is None:
            raise ValueError("point positions need the tokens' centres (tokens.coords)")
        return self.mlp(tokens.coords)

    def embed(self, centres: Tensor) -> Tensor:
        return self.mlp(centres)


def sincos_points(dim: int, coords: Tensor, max_frequency: float = 64.0) -> Tensor:
    """coords [...,3] -> [...,dim] fixed Fourier features: per axis, sin and cos at dim//6 frequencies
    spaced geometrically from 1 to `max_frequency` (radians per unit; clouds lie in the unit sphere).
    The continuous 3-D analogue of MAE's fixed sin-cos grid table."""
    if dim < 6:
        raise ValueError(f"3-D sin-cos position embedding needs a width of at least 6, got {dim}")
    n = dim // 6
    freqs = max_frequency ** (torch.arange(n, dtype=coords.dtype, device=coords.device) / max(n - 1, 1))
    angles = coords.unsqueeze(-1) * freqs                                         # [...,3,n]
    out = torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)             # [...,6n]
    return torch.nn.functional.pad(out, (0, dim - 6 * n))  # widths not divisible by 6: zeros at the end


class CentreSinCos(nn.Module):
    """Tokens -> [B,G,dim]: fixed sin-cos features of each group's centre (no parameters)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, tokens: Tokens) -> Tensor:
        if tokens is None or tokens.coords is None:
            raise ValueError("point positions need the tokens' centres (tokens.coords)")
        return self.embed(tokens.coords)

    def embed(self, centres: Tensor) -> Tensor:
        return sincos_points(self.dim, centres)


class PointGroupTokenizer(Tokenizer):
    """Clouds [B,N,3] -> G tokens of k points each (Point-MAE, row 10).

    values  [B,G,k*3]  each group's points relative to its centre, laid out (k, 3), nearest first
    coords  [B,G,3]    the FPS centres
    pos     [B,G,dim]  MLP(centre) (`position="mlp"`, Point-MAE) or fixed sin-cos features (`"sincos"`)
    """

    def __init__(self, num_points: int = 1024, num_groups: int = 64, group_size: int = 32, dim: int = 384,
                 pointnet_width: int = 128, pos_hidden: int = 128, position: str = "mlp"):
        super().__init__()
        if num_groups <= 0 or group_size <= 0:
            raise ValueError(f"num_groups and group_size must be positive, got {num_groups}, {group_size}")
        if num_groups > num_points or group_size > num_points:
            raise ValueError(f"{num_groups} groups of {group_size} points need at least that many points, "
                             f"got num_points={num_points}")
        self.num_points, self.num_groups, self.group_size, self.dim = num_points, num_groups, group_size, dim
        self.grid = (num_groups,)
        self.patch_dim = group_size * 3
        self.embed = MiniPointNet(dim, pointnet_width)
        if position not in ("mlp", "sincos"):
            raise ValueError(f"position must be 'mlp' or 'sincos', got {position!r}")
        self.position_kind, self.pos_hidden = position, pos_hidden
        self.pos = self.position(dim)

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"num_points": 32, "num_groups": 4, "group_size": 8, "dim": 16}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.num_points, 3, generator=generator)

    def check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise ValueError(f"expected point clouds as a torch.Tensor [B,N,3], got {type(x).__name__}")
        if x.ndim != 3 or x.shape[-1] != 3:
            raise ValueError(f"expected point clouds [B,N,3], got a tensor of shape {tuple(x.shape)}")
        if x.shape[1] != self.num_points:
            raise ValueError(f"expected {self.num_points} points per cloud, got {x.shape[1]}")
        if not x.is_floating_point():
            raise ValueError(f"expected floating-point coordinates, got {x.dtype}")
        if x.shape[0] == 0:
            raise ValueError("expected at least one point cloud, got an empty batch")
        check_finite(x, "point clouds")

    def group(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [B,N,3] -> (groups [B,G,k,3] relative to their centres, centres [B,G,3])."""
        centres = gather_points(x, farthest_point_sample(x, self.num_groups))
        groups = gather_points(x, knn_indices(centres, x, self.group_size)) - centres.unsqueeze(2)
        return groups, centres

    def patchify(self, x: Tensor) -> Tensor:
        """x [B,N,3] -> values [B,G,k*3]."""
        return self.group(x)[0].flatten(2)

    def unpatchify(self, values: Tensor, centres: Tensor) -> Tensor:
        """values [B,M,k*3] (relative to their centres), centres [B,M,3] -> cloud [B,M*k,3]."""
        b, m = values.shape[:2]
        return (values.reshape(b, m, -1, 3) + centres.unsqueeze(2)).reshape(b, -1, 3)

    def tokens(self, groups: Tensor, centres: Tensor) -> Tokens:
        """groups [B,G,k,3], centres [B,G,3] -> Tokens (every group embedded on its own)."""
        b, g, k, _ = groups.shape
        embed = self.embed(groups.reshape(b * g, k, 3)).reshape(b, g, self.dim)
        return Tokens(values=groups.flatten(2), embed=embed, pos=self.pos.embed(centres), grid=self.grid,
                      coords=centres)

    def position(self, dim: int, learnable: bool = True) -> nn.Module:
        """A position module of this tokenizer's kind: a new centre MLP (Point-MAE), or fixed sin-cos."""
        return CentrePosition(dim, self.pos_hidden) if self.position_kind == "mlp" else CentreSinCos(dim)

    def forward(self, x: Tensor) -> Tokens:
        self.check_input(x)
        return self.tokens(*self.group(x.float()))

    def extra_repr(self) -> str:
        return f"num_points={self.num_points}, num_groups={self.num_groups}, group_size={self.group_size}"

