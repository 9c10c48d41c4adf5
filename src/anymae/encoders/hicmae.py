"""HiCMAE's encoder (row 16): one ViT per modality on that modality's visible tokens, then a cross-modal
fusion encoder whose blocks let each modality read the other (self-attention, cross-attention, MLP)."""
from __future__ import annotations

from functools import partial
from typing import Sequence

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Attention, Mlp
from torch import Tensor, nn

from ..tokenizers.base import Tokens, gather_tokens
from .vit import ViTEncoder, init_mae_weights


class CrossAttention(nn.Module):
    """queries [B,Q,D] attend to context [B,K,D] (pre-normed by the caller): -> [B,Q,D]."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q, self.kv, self.proj = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        b, q_len, d = x.shape
        h = self.heads
        q = self.q(x).view(b, q_len, h, d // h).transpose(1, 2)
        k, v = self.kv(context).view(b, context.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, q_len, d))


class FusionBlock(nn.Module):
    """HiCMAE's cross-modal fusion block (its code's `CSBlock`): x + SelfAttn(LN x), then + CrossAttn(LN x,
    LN context), then + MLP(LN x). With no context (the other modality absent) the cross step is skipped."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, norm_eps: float = 1e-6):
        super().__init__()
        norm = partial(nn.LayerNorm, eps=norm_eps)
        self.norm1, self.norm_q, self.norm_kv, self.norm2 = norm(dim), norm(dim), norm(dim), norm(dim)
        self.attn = Attention(dim, heads, qkv_bias=True)
        self.cross = CrossAttention(dim, heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, context: Tensor | None) -> Tensor:
        x = x + self.attn(self.norm1(x))
        if context is not None and context.shape[1]:
            x = x + self.cross(self.norm_q(x), self.norm_kv(context))
        return x + self.mlp(self.norm2(x))


def paired_layers(depth: int) -> tuple[int, ...]:
    """The encoder blocks HiCMAE pairs across modalities: (3, 6, 9) of 10 in its code, the same fractions
    (0.4, 0.7, 1.0 of the depth, last block included) at other depths."""
    return tuple(sorted({max(0, int(depth * f) - 1) for f in (0.4, 0.7, 1.0)}))


class HiCMAEEncoder(nn.Module):
    """Tokens of two named modalities (MultiModalTokenizer: `group`, `extra["spans"]`) -> latents [B,Nv,D].

    Each modality's visible tokens go through its own ViT (`depth` blocks, no cls token, final norm), then
    `fusion_depth` pairs of `FusionBlock`s update both at once (the first modality reads the second and
    vice versa), each closed by its own norm. Latents come back in `index` order (no prefix tokens).
    `return_layers` (block indices of the per-modality ViTs): their outputs, each through its ViT's norm as
    HiCMAE's code does, joined in the same `index` order: [B,Nv,D] each, for the contrastive terms.
    """

    reads_input = True   # it reads the Tokens (which token is which modality), not a plain [B,Nv,D]
    num_prefix = 0

    def __init__(self, names: Sequence[str] = ("video", "audio"), dim: int = 512, depth: int = 10, heads: int = 8,
                 fusion_depth: int = 2, mlp_ratio: float = 4.0, drop_path: float = 0.0):
        super().__init__()
        if len(names) != 2:
            raise ValueError(f"HiCMAE fuses exactly two modalities, got {list(names)}")
        self.names = list(names)
        self.dim, self.depth, self.heads, self.fusion_depth = dim, depth, heads, fusion_depth
        self.encoders = nn.ModuleDict({n: ViTEncoder(dim, depth, heads, mlp_ratio, drop_path, cls_token=False)
                                       for n in self.names})
        self.fusion = nn.ModuleDict({n: nn.ModuleList(FusionBlock(dim, heads, mlp_ratio) for _ in range(fusion_depth))
                                     for n in self.names})
        self.fusion_norm = nn.ModuleDict({n: nn.LayerNorm(dim, eps=1e-6) for n in self.names})
        self.fusion.apply(init_mae_weights)

    def split(self, tokens: Tokens, index: Tensor) -> tuple[Tensor, list[Tensor]]:
        """index [B,Nv] -> (order [B,Nv] sorting each row by modality, [index of each modality's tokens [B,Nm]])."""
        group = tokens.group.to(index.device)[index]                                   # [B,Nv] modality ids
        order = torch.sort(group, dim=1, stable=True).indices
        parts = []
        for m, name in enumerate(self.names):
            counts = (group == m).sum(1)
            if counts.numel() and not bool((counts == counts[0]).all()):
                raise ValueError(f"HiCMAE needs the same number of visible {name} tokens in every sample "
                                 f"(a per-modality masker), got {counts.tolist()}")
            start = int((group < m).sum(1)[0]) if counts.numel() else 0
            parts.append(order[:, start:start + int(counts[0] if counts.numel() else 0)])
        return order, parts

    def encode_tokens(self, tokens: Tokens, index: Tensor | None = None, return_layers: Sequence[int] | None = None):
        """The encoder on the tokens at `index` [B,Nv] (every token when None): latents [B,Nv,D] in `index` order,
        or (latents, [layer outputs [B,Nv,D]]) with `return_layers`."""
        if tokens.group is None:
            raise ValueError("HiCMAE's encoder needs multi-modal tokens (a group id per token)")
        x = tokens.embed + tokens.pos
        if index is None:
            index = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)
        x = gather_tokens(x.expand(index.shape[0], -1, -1), index)                    # [B,Nv,D]
        order, parts = self.split(tokens, index)
        outs, layers = {}, {}
        for name, where in zip(self.names, parts):
            enc = self.encoders[name]
            if where.shape[1] == 0:
                outs[name], layers[name] = None, None
                continue
            h = gather_tokens(x, where)
            if return_layers is None:
                outs[name] = enc(h)
            else:
                outs[name], taken = enc(h, return_layers=return_layers)
                layers[name] = [enc.norm(t) for t in taken]
        a, b = self.names
        xa, xb = outs[a], outs[b]
        for block_a, block_b in zip(self.fusion[a], self.fusion[b]):
            xa, xb = (block_a(xa, xb) if xa is not None else None), (block_b(xb, xa) if xb is not None else None)
        fused = [self.fusion_norm[n](h) for n, h in ((a, xa), (b, xb)) if h is not None]
        latents = unsort(torch.cat(fused, dim=1), order)
        if return_layers is None:
            return latents
        joined = [unsort(torch.cat([layers[n][k] for n in self.names if layers[n] is not None], dim=1), order)
                  for k in range(len(return_layers))]
        return latents, joined

    def finetune_features(self, tokens: Tokens) -> Tensor:
        """HiCMAE's fine-tuning readout (its code's `AudioVisionTransformer.forward_features`) on every token ->
        [B,4D]: per modality the mean over its ViT's blocks of the token mean (each block through the ViT's
        norm; the code's learned softmax layer weights at their uniform init), then each modality's fused
        token mean, concatenated (first modality first) and layer-normed (the code's `fc_norm` at init)."""
        fused, layers = self.encode_tokens(tokens, None, return_layers=list(range(self.depth)))
        group = tokens.group.to(fused.device)
        unimodal, joint = [], []
        for m in range(len(self.names)):
            where = group == m
            unimodal.append(torch.stack([z[:, where].mean(1) for z in layers]).mean(0))    # [B,D]
            joint.append(fused[:, where].mean(1))
        out = torch.cat(unimodal + joint, dim=1)
        return F.layer_norm(out, out.shape[-1:])

    def forward(self, x: Tensor, return_layers=None, pos=None):
        raise ValueError("HiCMAE's encoder reads Tokens (which token is which modality): call encode_tokens")


def unsort(sorted_x: Tensor, order: Tensor) -> Tensor:
    """Rows sorted by `order` [B,Nv] ([B,Nv,D]) -> back in the original order."""
    out = torch.empty_like(sorted_x)
    return out.scatter_(1, order.unsqueeze(-1).expand_as(sorted_x), sorted_x)
