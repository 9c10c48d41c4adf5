"""Maskers by name, for recipes and `anymae pretrain --masker NAME --masker-arg k=v`."""
from __future__ import annotations

from ..registry import Registry

MASKERS = Registry("masker")

# masker arguments every masker takes: they attach a mask-ratio schedule (masking/schedule.py)
SCHEDULE_ARGS = ("schedule", "ratio_start", "stages")


def register_masker(name: str):
    return MASKERS.register(name)


def make_masker(name: str, ratio: float | None = None, **kwargs):
    """Build masker `name`; `ratio` is passed when given (a `ratio` in kwargs wins).

    `schedule=constant|linear|cosine|progressive`, `ratio_start=` and `stages=` attach a mask-ratio
    schedule ending at the masker's ratio to any masker.
    """
    schedule = {k: kwargs.pop(k) for k in SCHEDULE_ARGS if k in kwargs}
    if ratio is not None and "ratio" not in kwargs:
        kwargs["ratio"] = ratio
    masker = MASKERS.build(name, **kwargs)
    if schedule:
        from .schedule import make_schedule
        if "schedule" not in schedule:
            raise ValueError(f"masker {name!r}: ratio_start/stages need --masker-arg schedule=NAME")
        masker.schedule = make_schedule(schedule["schedule"], schedule.get("ratio_start"), masker.ratio,
                                        schedule.get("stages"))
    return masker
