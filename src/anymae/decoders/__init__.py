"""Decoders: latents + Mask -> predictions for the tokens asked for."""
from .fusion import FusionDecoder, HybridTokenFusion
from .mae import MAEDecoder, gather_tokens
from .multimodal import CrossAttentionBlock, MultiModalDecoder

__all__ = ["MAEDecoder", "FusionDecoder", "HybridTokenFusion", "MultiModalDecoder", "CrossAttentionBlock",
           "gather_tokens"]
