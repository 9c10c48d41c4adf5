"""Decoders: latents + Mask -> predictions for the tokens asked for."""
from .cae import CAEDecoder
from .head import LinearHead
from .mae import MAEDecoder, gather_tokens

__all__ = ["MAEDecoder", "CAEDecoder", "LinearHead", "gather_tokens"]
