"""The Decoder contract: latents of the visible tokens, the Mask and the Tokens -> predictions [B,Np,T]."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..tokenizers.base import gather_tokens


class Decoder(nn.Module):
    """Base of every decoder. `bind(in_dim, out_dim, position)` sizes its in/out layers once the encoder
    width, the target width and the token layout are known (MaskedAutoencoder calls it); `forward(latents
    [B,P+Nv,E], mask, tokens, num_prefix) -> [B,Np,out_dim]` for the tokens in `mask.predict`."""

    dim: int
    learnable_pos: bool = False

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        raise NotImplementedError

    def forward(self, latents: Tensor, mask, tokens=None, num_prefix: int = 1) -> Tensor:
        raise NotImplementedError


def decoder_tokens(x: Tensor, pos: Tensor, mask_token: Tensor, keep: Tensor, queries: Tensor,
                   num_prefix: int) -> Tensor:
    """The decoder's input, MAE's math without un-shuffling: x [B,P+Nv,Dd] (embedded latents), pos [1|B,N,Dd],
    keep [B,Nv], queries [B,Nq] -> [B,P+Nv+Nq,Dd]: the prefix, each visible token plus its position, and one
    mask token plus its position for each query."""
    pos = pos.expand(x.shape[0], -1, -1) if pos.shape[0] == 1 else pos
    return torch.cat([x[:, :num_prefix], x[:, num_prefix:] + gather_tokens(pos, keep),
                      mask_token + gather_tokens(pos, queries)], dim=1)
