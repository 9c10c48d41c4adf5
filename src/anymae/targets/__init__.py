"""Targets: the sample / Tokens -> per-token targets [B,N,T]."""
from .pixel import PixelTarget

__all__ = ["PixelTarget"]
