"""Mask-ratio schedules (LMD, row 31): the ratio as a function of training progress in [0, 1].

Any masker takes one: `masker.schedule = make_schedule("cosine", start=0.5, end=0.75)`, or from the
command line `--masker-arg schedule=cosine --masker-arg ratio_start=0.5` (the end is the masker's
ratio). The trainer calls `masker.set_progress(fraction)` before each step, which sets `ratio`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..registry import Registry


@dataclass(frozen=True)
class RatioSchedule:
    """Base: `schedule(progress) -> ratio`; `start` at progress 0, `end` at progress 1."""

    start: float
    end: float

    def __post_init__(self):
        for name in ("start", "end"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"mask-ratio schedule: {name} must be in (0, 1), got {value}")

    def shape(self, progress: float) -> float:
        """0 at progress 0, 1 at progress 1."""
        raise NotImplementedError

    def __call__(self, progress: float) -> float:
        p = min(1.0, max(0.0, float(progress)))
        return self.start + (self.end - self.start) * self.shape(p)


class ConstantSchedule(RatioSchedule):
    """The ratio stays at `end` (MAE's fixed ratio)."""

    def shape(self, progress: float) -> float:
        return 1.0


class LinearSchedule(RatioSchedule):
    """Straight line from `start` to `end` (LMD's linear scheduler)."""

    def shape(self, progress: float) -> float:
        return progress


class CosineSchedule(RatioSchedule):
    """Half cosine from `start` to `end`: slow at both ends (LMD's cosine scheduler)."""

    def shape(self, progress: float) -> float:
        return 0.5 * (1.0 - math.cos(math.pi * progress))


@dataclass(frozen=True)
class ProgressiveSchedule(RatioSchedule):
    """Staircase in `stages` equal steps from `start` to `end` (LMD's piecewise, progressive scheduler):
    the ratio holds for 1/stages of training, then rises; the last stage is at `end`."""

    stages: int = 4

    def __post_init__(self):
        super().__post_init__()
        if self.stages < 2:
            raise ValueError(f"progressive schedule: stages must be >= 2, got {self.stages}")

    def shape(self, progress: float) -> float:
        stage = min(self.stages - 1, int(progress * self.stages))
        return stage / (self.stages - 1)


SCHEDULES = Registry("mask-ratio schedule")
for _name, _schedule in (("constant", ConstantSchedule), ("linear", LinearSchedule), ("cosine", CosineSchedule),
                         ("progressive", ProgressiveSchedule)):
    SCHEDULES.register(_name, _schedule)


def make_schedule(name: str, start: float | None, end: float, stages: int | None = None) -> RatioSchedule:
    """A schedule by name; `start` defaults to `end` for constant and to end - 0.25 (at least 0.05) otherwise."""
    schedule = SCHEDULES.get(name)
    if start is None:
        start = end if name == "constant" else max(0.05, end - 0.25)
    if name == "progressive":
        return ProgressiveSchedule(start, end, stages if stages is not None else 4)
    if stages is not None:
        raise ValueError(f"mask-ratio schedule {name!r} takes no `stages` (only progressive does)")
    return schedule(start, end)
