"""The Decoder contract: latents of the visible tokens, the Mask and the Tokens -> predictions [B,Np,T]."""
from __future__ import annotations

from torch import Tensor, nn


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
