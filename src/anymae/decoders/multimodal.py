"""Per-modality decoders (MultiMAE, row 50): for each modality a light decoder whose queries (that
modality's tokens: visible ones from the encoder, hidden ones a mask token) read every encoder latent
by cross-attention, then a self-attention block and a linear head."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders.vit import init_mae_weights, make_blocks
from ..masking.base import Mask
from .mae import gather_tokens
from .base import Decoder


def stitch_modalities(parts: dict[str, Tensor], spans: dict, mask: Mask, width: int, like: Tensor) -> Tensor:
    """{name: [B,N_m,w_m]} predictions of every token of each modality -> the predicted tokens [B,Np,width]
    (each modality in its token span, zero-padded to the widest target)."""
    b, n = mask.restore.shape
    full = like.new_zeros(b, n, width)
    for name, pred in parts.items():
        s, e = spans[name]
        full[:, s:e, :pred.shape[-1]] = pred
    return gather_tokens(full, mask.predict)


class CrossAttentionBlock(nn.Module):
    """queries [B,Q,D] attend to context [B,K,D] (pre-norm, residual), then an MLP (MultiMAE's decoder)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.norm_q, self.norm_kv, self.norm_mlp = (nn.LayerNorm(dim, eps=1e-6) for _ in range(3))
        self.q, self.kv, self.proj = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, queries: Tensor, context: Tensor) -> Tensor:
        b, q_len, d = queries.shape
        h = self.heads
        q = self.q(self.norm_q(queries)).view(b, q_len, h, d // h).transpose(1, 2)
        k, v = self.kv(self.norm_kv(context)).view(b, context.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, q_len, d)
        x = queries + self.proj(attended)
        return x + self.mlp(self.norm_mlp(x))


class ModalityHead(nn.Module):
    """One modality's decoder: cross-attention to the context, `depth` self-attention blocks, a linear head."""

    def __init__(self, dim: int, depth: int, heads: int, out_dim: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.cross = CrossAttentionBlock(dim, heads, mlp_ratio)
        self.blocks = make_blocks(dim, depth, heads, mlp_ratio) if depth else nn.ModuleList()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pred = nn.Linear(dim, out_dim)

    def forward(self, queries: Tensor, context: Tensor) -> Tensor:
        x = self.cross(queries, context)
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x))


class MultiModalDecoder(Decoder):
    """latents [B,P+Nv,E] -> predictions [B,Np,T] for `mask.predict`, each token predicted by the head of
    its own modality. `outputs` = {name: prediction width}; predictions narrower than T (the widest)
    are zero-padded, so one tensor holds every modality (the loss reads each one's width).
    """

    def __init__(self, outputs: dict[str, int], dim: int = 128, depth: int = 1, heads: int = 4,
                 mlp_ratio: float = 4.0, learnable_pos: bool = False):
        super().__init__()
        self.outputs = dict(outputs)
        self.names = list(outputs)
        self.dim, self.depth, self.heads, self.mlp_ratio = dim, depth, heads, mlp_ratio
        self.learnable_pos = learnable_pos
        self.out_dim = max(self.outputs.values())
        self.decoders = nn.ModuleDict({n: ModalityHead(dim, depth, heads, w, mlp_ratio) for n, w in outputs.items()})
        self.embed: nn.Module | None = None
        self.pos: nn.Module | None = None

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        self.embed = nn.Linear(in_dim, self.dim)
        self.pos = position
        self.apply(init_mae_weights)
        for head in self.decoders.values():
            nn.init.normal_(head.mask_token, std=0.02)

    def predict_all(self, latents: Tensor, mask: Mask, tokens, num_prefix: int = 1) -> dict[str, Tensor]:
        """-> {name: predictions of every token of that modality [B,N_m,w_m]} for the modalities present."""
        x = self.embed(latents)
        prefix, visible = x[:, :num_prefix], x[:, num_prefix:]
        pos = self.pos(tokens).expand(x.shape[0], -1, -1)                         # [B,N,Dd]
        context = torch.cat([prefix, visible + gather_tokens(pos, mask.keep)], dim=1)
        b, n = mask.restore.shape
        out = {}
        for name, (s, e) in tokens.extra["spans"].items():
            if name not in self.decoders:
                continue
            head = self.decoders[name]
            fill = head.mask_token.expand(b, n - visible.shape[1], -1).to(visible.dtype)
            restored = gather_tokens(torch.cat([visible, fill], dim=1), mask.restore)  # [B,N,Dd]
            out[name] = head(restored[:, s:e] + pos[:, s:e], context)
        return out

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 1) -> Tensor:
        parts = self.predict_all(latents, mask, tokens, num_prefix)
        return stitch_modalities(parts, tokens.extra["spans"], mask, self.out_dim, latents)
