"""Maskers: token grid -> Mask (which tokens the encoder sees, which the decoder predicts).

Every module in this folder is imported here, so a masker file registers itself with
`@register_masker(name)` just by being in the folder.
"""
import importlib
import pkgutil

from .base import Mask, Masker, MaskerExample, num_visible, order_by_scores
from .random import RandomMasker
from .registry import MASKERS, make_masker, register_masker
from .schedule import SCHEDULES, make_schedule

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "registry"):
        importlib.import_module(f"{__name__}.{_module.name}")

from .block import BlockMasker  # noqa: E402
from .grid import GridMasker  # noqa: E402
from .guided import GuidedMasker  # noqa: E402
from .hard_patch import HardPatchMasker  # noqa: E402
from .noise import NoiseMasker  # noqa: E402
from .channel_patch import ChannelPatchMasker  # noqa: E402
from .modality import ModalityMasker, modality_mask, present_mask  # noqa: E402
from .tube import TubeMasker  # noqa: E402
from .running_cell import RunningCellMasker  # noqa: E402
from .dual import DualMasker  # noqa: E402
from .disjoint import DisjointMasker, MultiViewMask  # noqa: E402
from .frequency import FrequencyMask, FrequencyMasker  # noqa: E402
from .visible import PredictVisible  # noqa: E402

__all__ = ["Mask", "Masker", "MaskerExample", "RandomMasker", "BlockMasker", "GridMasker", "NoiseMasker",
           "HardPatchMasker", "GuidedMasker", "ChannelPatchMasker", "ModalityMasker",
           "modality_mask", "present_mask", "TubeMasker", "RunningCellMasker", "DualMasker",
           "DisjointMasker", "MultiViewMask", "FrequencyMasker", "FrequencyMask", "PredictVisible", "num_visible", "order_by_scores", "MASKERS",
           "make_masker", "register_masker", "SCHEDULES", "make_schedule"]
