"""Scalar quantizers for a latent of D dimensions: each dimension takes one of a few values.

- `LatentQuantizer` (row 52, QLAE, "Disentanglement via Latent Quantization"): one *learnable* scalar
  codebook per dimension (V values each, initialised evenly over [-1, 1]); a latent is snapped to the nearest
  value dimension by dimension, with a straight-through gradient, a quantization loss (codebook values move to
  the encoder's outputs) and a commitment loss (outputs move to the values), both weighted 0.1 as in a
  public port of the paper's JAX code.
- `FiniteScalarQuantizer` (FSQ, Mentzer et al. 2023, the fixed-grid option): each dimension is bounded with
  tanh and rounded onto a fixed grid of V levels; nothing to learn, no auxiliary loss.

Both give `codes [..., D]` (integers in [0, V)) and `values [..., D]` (the quantized latent), and
`lookup(codes)` back to values, so a generator can treat the per-position code as D categorical tokens.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class LatentQuantizer(nn.Module):
    """QLAE's quantizer (row 52): a learnable scalar codebook per latent dimension, `values [D,V]`."""

    def __init__(self, dims: int, levels: int, commit_weight: float = 0.1, quantize_weight: float = 0.1):
        super().__init__()
        if dims < 1 or levels < 2:
            raise ValueError(f"latent quantizer: dims={dims} must be >= 1 and levels={levels} >= 2")
        self.dims, self.levels = dims, levels
        self.commit_weight, self.quantize_weight = commit_weight, quantize_weight
        self.codebook = nn.Parameter(torch.linspace(-1, 1, levels).repeat(dims, 1))  # [D,V]

    def codes(self, z: Tensor) -> Tensor:
        """z [...,D] -> nearest value's index in each dimension's codebook [...,D] (long)."""
        return (z.unsqueeze(-1) - self.codebook).abs().argmin(-1)

    def lookup(self, codes: Tensor) -> Tensor:
        """codes [...,D] -> the codebook values [...,D]."""
        index = torch.arange(self.dims, device=codes.device)
        return self.codebook[index, codes]

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """z [...,D] -> (straight-through quantized z [...,D], codes [...,D], {quantize, commit} weighted losses)."""
        codes = self.codes(z.detach())
        q = self.lookup(codes)
        losses = {"quantize": self.quantize_weight * (q - z.detach()).pow(2).mean(),
                  "commit": self.commit_weight * (z - q.detach()).pow(2).mean()}
        return q + (z - z.detach()), codes, losses   # exactly the codebook values; gradient straight to z


class FiniteScalarQuantizer(nn.Module):
    """FSQ (fixed grid option): tanh-bounded dimensions rounded onto `levels` evenly spaced values in [-1,1]."""

    def __init__(self, dims: int, levels: int):
        super().__init__()
        if dims < 1 or levels < 2:
            raise ValueError(f"FSQ: dims={dims} must be >= 1 and levels={levels} >= 2")
        self.dims, self.levels = dims, levels
        self.register_buffer("grid", torch.linspace(-1, 1, levels), persistent=False)

    def codes(self, z: Tensor) -> Tensor:
        half = (self.levels - 1) / 2
        return torch.round((torch.tanh(z) + 1) * half).long().clamp(0, self.levels - 1)

    def lookup(self, codes: Tensor) -> Tensor:
        return self.grid[codes]

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        bounded = torch.tanh(z)
        codes = self.codes(z.detach())
        q = self.lookup(codes)
        return q + (bounded - bounded.detach()), codes, {}


QUANTIZERS = {"latent": LatentQuantizer, "fsq": FiniteScalarQuantizer}


def codebook_use(codes: Tensor, levels: int) -> dict[str, float]:
    """How much of the codebook `codes [M,D]` use: per-dimension share of values used and entropy (bits, max
    log2 V), and the share of distinct whole codes among min(M, V^D). A collapsed dimension shows 1/V and 0 bits."""
    codes = codes.reshape(-1, codes.shape[-1])
    counts = torch.stack([torch.bincount(codes[:, d], minlength=levels) for d in range(codes.shape[1])]).float()
    p = counts / counts.sum(1, keepdim=True)
    entropy = -(p * torch.log2(p.clamp_min(1e-12))).sum(1)
    distinct = torch.unique(codes, dim=0).shape[0]
    possible = min(codes.shape[0], levels ** codes.shape[1])
    return {"values_used": float((counts > 0).float().mean()),
            "entropy_bits": float(entropy.mean()), "entropy_min_bits": float(entropy.min()),
            "entropy_max_bits": float(torch.log2(torch.tensor(float(levels)))),
            "codes_used": float(distinct / possible), "distinct_codes": int(distinct)}
