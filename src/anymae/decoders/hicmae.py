"""HiCMAE's decoders (row 16): one MAE decoder per modality, each on its own modality's tokens only
(visible latents projected without bias, as the code's `encoder_to_decoder`, plus one mask token per hidden
token), with the decoder's position table, `depth` blocks and a linear head to that modality's target width."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..encoders.vit import init_mae_weights, make_blocks
from ..masking.base import Mask
from ..tokenizers.base import gather_tokens
from .base import Decoder
from .multimodal import stitch_modalities


class ModalityDecoder(nn.Module):
    """One modality's MAE decoder: blocks, norm and head over that modality's [B,N_m,Dd] tokens."""

    def __init__(self, in_dim: int, dim: int, depth: int, heads: int, out_dim: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.embed = nn.Linear(in_dim, dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = make_blocks(dim, depth, heads, mlp_ratio)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pred = nn.Linear(dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x))


class HiCMAEDecoder(Decoder):
    """latents [B,Nv,E] (no prefix) -> predictions [B,Np,T] for `mask.predict`; each token is predicted by the
    decoder of its own modality, which sees that modality's tokens only. `outputs` = {name: prediction width};
    narrower predictions are zero-padded to the widest (MultiModalLoss reads each one's width)."""

    def __init__(self, outputs: dict[str, int], dim: int = 384, depth: int = 4, heads: int = 6,
                 mlp_ratio: float = 4.0, learnable_pos: bool = False):
        super().__init__()
        self.outputs, self.names = dict(outputs), list(outputs)
        self.dim, self.depth, self.heads, self.mlp_ratio = dim, depth, heads, mlp_ratio
        self.learnable_pos = learnable_pos
        self.out_dim = max(self.outputs.values())
        self.decoders: nn.ModuleDict | None = None
        self.pos: nn.Module | None = None

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        self.decoders = nn.ModuleDict({n: ModalityDecoder(in_dim, self.dim, self.depth, self.heads, w, self.mlp_ratio)
                                       for n, w in self.outputs.items()})
        self.pos = position
        self.decoders.apply(init_mae_weights)
        for head in self.decoders.values():
            nn.init.normal_(head.mask_token, std=0.02)

    def predict_all(self, latents: Tensor, mask: Mask, tokens, num_prefix: int = 0) -> dict[str, Tensor]:
        """-> {name: predictions of every token of that modality [B,N_m,w_m]} for the modalities present."""
        visible = latents[:, num_prefix:]
        b, n = mask.restore.shape
        pos = self.pos(tokens).expand(b, -1, -1)                                      # [B,N,Dd]
        out = {}
        for name, (s, e) in tokens.extra["spans"].items():
            head = self.decoders[name]
            fill = head.mask_token.expand(b, n - visible.shape[1], -1).to(visible.dtype)
            restored = gather_tokens(torch.cat([head.embed(visible), fill], dim=1), mask.restore)  # [B,N,Dd]
            out[name] = head(restored[:, s:e] + pos[:, s:e])
        return out

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 0) -> Tensor:
        parts = self.predict_all(latents, mask, tokens, num_prefix)
        return stitch_modalities(parts, tokens.extra["spans"], mask, self.out_dim, latents)
