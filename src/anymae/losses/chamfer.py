"""L2 Chamfer distance (Point-MAE, PAPERS.md row 10), batched and memory-bounded."""
from __future__ import annotations

import torch
from torch import Tensor
from .base import Loss

# The largest pairwise-distance block held at once, in elements (4M floats = 16 MB).
MAX_PAIRS = 1 << 22


def nearest_squared(a: Tensor, b: Tensor, max_pairs: int = MAX_PAIRS) -> tuple[Tensor, Tensor]:
    """a [B,N,3], b [B,M,3] -> (each a point's squared distance to its nearest b point [B,N],
    each b point's squared distance to its nearest a point [B,M]).

    Distances are formed for a chunk of a's points at a time, so the largest block is
    [B,c,M] with B*c*M <= max_pairs (one block when it fits; at least one row of a).
    """
    bsz, n, _ = a.shape
    m = b.shape[1]
    chunk = max(1, min(n, max_pairs // max(1, bsz * m)))
    b_sq = b.pow(2).sum(-1).unsqueeze(1)                                     # [B,1,M]
    a_to_b, b_to_a = [], None
    for start in range(0, n, chunk):
        part = a[:, start:start + chunk]                                     # [B,c,3]
        d = (part.pow(2).sum(-1, keepdim=True) + b_sq - 2 * part @ b.transpose(1, 2)).clamp_min(0)  # [B,c,M]
        a_to_b.append(d.min(dim=2).values)
        block = d.min(dim=1).values                                          # [B,M]
        b_to_a = block if b_to_a is None else torch.minimum(b_to_a, block)
    return torch.cat(a_to_b, dim=1), b_to_a


def chamfer_distance(a: Tensor, b: Tensor, max_pairs: int = MAX_PAIRS) -> Tensor:
    """a [B,N,3], b [B,M,3] -> [B]: mean over a of the squared distance to the nearest b point,
    plus the same from b to a (Point-MAE's `ChamferDistanceL2`)."""
    a_to_b, b_to_a = nearest_squared(a, b, max_pairs)
    return a_to_b.mean(1) + b_to_a.mean(1)


class ChamferLoss(Loss):
    """pred, target [B,M,k*3] (each token a group of k points, flattened (k,3)) -> per-token Chamfer [B,M].

    The mean over tokens equals Point-MAE's loss: L2 Chamfer between each predicted and true
    hidden group, averaged over groups. pred may hold a different number of points than target.
    """

    def __init__(self, max_pairs: int = MAX_PAIRS):
        super().__init__()
        self.max_pairs = max_pairs

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        if pred.shape[:2] != target.shape[:2] or pred.shape[-1] % 3 or target.shape[-1] % 3:
            raise ValueError(f"Chamfer loss needs pred [B,M,3k] and target [B,M,3k'], got "
                             f"{tuple(pred.shape)} and {tuple(target.shape)}")
        b, m = pred.shape[:2]
        dist = chamfer_distance(pred.reshape(b * m, -1, 3), target.reshape(b * m, -1, 3), self.max_pairs)
        return dist.reshape(b, m)
