"""Maskers: token grid -> Mask (which tokens the encoder sees, which the decoder predicts)."""
from .base import Mask, Masker, num_visible
from .random import RandomMasker
from .registry import MASKERS, make_masker, register_masker
from .tube import TubeMasker
from .running_cell import RunningCellMasker
from .dual import DualMasker

__all__ = ["Mask", "Masker", "RandomMasker", "num_visible", "MASKERS", "make_masker", "register_masker",
           "TubeMasker", "RunningCellMasker", "DualMasker"]
