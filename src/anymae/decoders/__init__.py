"""Decoders: latents + Mask -> predictions for the tokens asked for."""
from .mae import MAEDecoder, gather_tokens

__all__ = ["MAEDecoder", "gather_tokens"]
