"""Encoders: visible token embeddings -> latents."""
from .crate import CRATEEncoder
from .memory import MemoryViTEncoder
from .vit import ViTEncoder, init_mae_weights, make_blocks

__all__ = ["ViTEncoder", "CRATEEncoder", "MemoryViTEncoder", "init_mae_weights", "make_blocks"]
