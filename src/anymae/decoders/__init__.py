"""Decoders: latents + Mask -> predictions for the tokens asked for."""
from .fusion import FusionDecoder, HybridTokenFusion
from .cae import CAEDecoder
from .crate import CRATEDecoder
from .head import LinearHead
from .mae import MAEDecoder, gather_tokens
from .multimodal import CrossAttentionBlock, MultiModalDecoder

__all__ = ["MAEDecoder", "CRATEDecoder", "CAEDecoder", "LinearHead", "FusionDecoder", "HybridTokenFusion", "MultiModalDecoder",
           "CrossAttentionBlock", "gather_tokens"]
