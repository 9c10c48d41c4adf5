"""Targets: the sample / Tokens -> per-token targets [B,N,T]."""
from .pixel import PixelTarget
from .registry import TARGETS, register_target

__all__ = ["PixelTarget", "TARGETS", "register_target"]
