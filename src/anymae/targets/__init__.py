"""Targets: the sample / Tokens -> per-token targets [B,N,T]."""
from .multimodal import ClassTarget, MultiModalTarget
from .pixel import PixelTarget
from .registry import TARGETS, register_target

__all__ = ["PixelTarget", "ClassTarget", "MultiModalTarget", "TARGETS", "register_target"]
