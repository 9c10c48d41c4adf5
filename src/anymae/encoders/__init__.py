"""Encoders: visible token embeddings -> latents."""
from .memory import MemoryViTEncoder
from .vit import ViTEncoder, init_mae_weights, make_blocks

__all__ = ["ViTEncoder", "MemoryViTEncoder", "init_mae_weights", "make_blocks"]
