"""Maskers: token grid -> Mask (which tokens the encoder sees, which the decoder predicts)."""
from .base import Mask, Masker, num_visible
from .channel_patch import ChannelPatchMasker
from .modality import ModalityMasker, modality_mask, present_mask
from .random import RandomMasker
from .registry import MASKERS, make_masker, register_masker

__all__ = ["Mask", "Masker", "RandomMasker", "ChannelPatchMasker", "ModalityMasker", "modality_mask", "present_mask",
           "num_visible", "MASKERS", "make_masker", "register_masker"]
