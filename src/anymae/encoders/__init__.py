"""Encoders: visible token embeddings -> latents."""
from .vit import ViTEncoder, init_mae_weights, make_blocks

__all__ = ["ViTEncoder", "init_mae_weights", "make_blocks"]
