"""Maskers: token grid -> Mask (which tokens the encoder sees, which the decoder predicts)."""
from .base import Mask, Masker, num_visible
from .disjoint import DisjointMasker, MultiViewMask
from .frequency import FrequencyMask, FrequencyMasker
from .random import RandomMasker
from .registry import MASKERS, make_masker, register_masker
from .visible import PredictVisible

__all__ = ["Mask", "Masker", "RandomMasker", "DisjointMasker", "MultiViewMask", "FrequencyMasker",
           "FrequencyMask", "PredictVisible", "num_visible", "MASKERS", "make_masker", "register_masker"]
