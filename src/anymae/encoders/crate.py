"""CRATE's white-box blocks (CRATE-MAE, Pai et al. 2024, PAPERS.md row 8; CRATE, Yu et al. 2023).

Each encoder layer is one step of alternating minimisation of the sparse rate reduction objective:
  compression     z' = z + MSSA(LN(z))   multi-head subspace self-attention, a gradient step on the coding
                                         rate of the tokens against K subspaces U_k (one shared q=k=v map per head)
  sparsification  z'' = ReLU(z~ + eta D^T (z~ - D z~) - eta lambda), z~ = LN(z')   one non-negative ISTA step
                                         towards a sparse code of z~ in the dictionary D (no residual)
The decoder layer inverts it: a linear map D (undo the sparse code), then z - MSSA(LN(z)) (decompress).
Facts from Ma-Lab-Berkeley/CRATE (model/crate_ae/crate_encoder.py, crate_decoder.py): the q/k/v map has no
bias, the output projection has one; eta = 0.1, lambda = 0.5; D is [dim, dim]. A CRATE layer holds 3 dim^2
weights against a ViT block's 12 dim^2: the ~30% of MAE's parameters the paper reports.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .vit import init_mae_weights, run_blocks


class SubspaceAttention(nn.Module):
    """Multi-head subspace self-attention (MSSA): x [B,N,D] -> [B,N,D].

    Per head k the tokens are projected on their subspace, w = U_k^T x; the head returns
    softmax(w w^T / sqrt(d_k)) w (queries, keys and values are the same projection); the heads'
    outputs are joined by one linear map (the paper's [U_1..U_K] with a bias).
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, dim, bias=False)   # U^T: one projection per head, shared by q, k and v
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        w = self.qkv(x).view(b, n, self.heads, d // self.heads).transpose(1, 2)   # [B,K,N,d_k]
        out = F.scaled_dot_product_attention(w, w, w)                             # softmax(w w^T / sqrt(d_k)) w
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class ISTAStep(nn.Module):
    """One non-negative ISTA step on min_a lambda |a|_1 + 1/2 |z - D a|^2 from a = z:
    z [B,N,D] -> ReLU(z + eta (D^T z - D^T D z) - eta lambda) (sparse: the shift by eta lambda zeroes entries)."""

    def __init__(self, dim: int, step: float = 0.1, lambd: float = 0.5):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, dim))  # the dictionary D
        nn.init.kaiming_uniform_(self.weight)
        self.step, self.lambd = step, lambd

    def forward(self, z: Tensor) -> Tensor:
        d = self.weight
        residual = z - F.linear(z, d)             # z - D z   (the code is a = z at the start)
        grad = F.linear(residual, d.t())          # D^T (z - D z): minus the gradient of 1/2 |z - D a|^2
        return F.relu(z + self.step * grad - self.step * self.lambd)


class CRATEBlock(nn.Module):
    """Encoder layer: z + MSSA(LN(z)), then ISTA(LN(.)) (no residual around ISTA, as CRATE)."""

    def __init__(self, dim: int, heads: int, step: float = 0.1, lambd: float = 0.5, norm_eps: float = 1e-5):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=norm_eps), SubspaceAttention(dim, heads)
        self.norm2, self.ista = nn.LayerNorm(dim, eps=norm_eps), ISTAStep(dim, step, lambd)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return self.ista(self.norm2(x))


class CRATEDecoderBlock(nn.Module):
    """Decoder layer, CRATE's encoder layer inverted: z~ = D LN(z) (back from the sparse code), then
    z~ - MSSA(LN(z~)) (decompression)."""

    def __init__(self, dim: int, heads: int, norm_eps: float = 1e-5):
        super().__init__()
        self.norm1, self.dictionary = nn.LayerNorm(dim, eps=norm_eps), nn.Linear(dim, dim, bias=False)
        self.norm2, self.attn = nn.LayerNorm(dim, eps=norm_eps), SubspaceAttention(dim, heads)

    def forward(self, x: Tensor) -> Tensor:
        x = self.dictionary(self.norm1(x))
        return x - self.attn(self.norm2(x))


def crate_init(module: nn.Module) -> None:
    """MAE's init for linears and norms; CRATE's kaiming-uniform dictionaries are kept."""
    if not isinstance(module, ISTAStep):
        init_mae_weights(module)


class CRATEEncoder(nn.Module):
    """x [B,Nv,D] (visible embeddings + positions) -> latents [B,1+Nv,D] through `depth` CRATE layers.

    The same interface as `ViTEncoder` (`dim`, `depth`, `heads`, `num_prefix`, `blocks`, `norm`,
    `forward(x, return_layers, pos)`), so probes, terms and pictures treat it alike.
    """

    pos_every_block = False

    def __init__(self, dim: int = 768, depth: int = 12, heads: int = 12, step: float = 0.1, lambd: float = 0.5,
                 cls_token: bool = True, norm_eps: float = 1e-6):
        super().__init__()
        self.dim, self.depth, self.heads = dim, depth, heads
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if cls_token else None
        self.num_prefix = 1 if cls_token else 0
        self.blocks = nn.ModuleList(CRATEBlock(dim, heads, step, lambd) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.grad_checkpointing = False
        self.apply(crate_init)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)

    def forward(self, x: Tensor, return_layers: Sequence[int] | None = None, pos: Tensor | None = None):
        """Returns latents [B,P+Nv,D], or (latents, [block outputs before the final norm]) if asked."""
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return run_blocks(self.blocks, self.norm, x, return_layers, self.grad_checkpointing and self.training)


def crate_decoder_blocks(dim: int, depth: int, heads: int) -> nn.ModuleList:
    """`depth` CRATE decoder layers of width `dim`."""
    return nn.ModuleList(CRATEDecoderBlock(dim, heads) for _ in range(depth))
