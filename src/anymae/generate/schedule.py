"""Mask schedules for masked generation (MaskGIT): the share of tokens still hidden at progress r in [0,1]."""
from __future__ import annotations

import math

from ..registry import Registry

SCHEDULES = Registry("mask schedule")
SCHEDULES.register("cosine", lambda r: math.cos(math.pi / 2 * r))   # MaskGIT's default
SCHEDULES.register("linear", lambda r: 1.0 - r)
SCHEDULES.register("square", lambda r: 1.0 - r * r)


def masked_counts(num_tokens: int, steps: int, schedule: str = "cosine") -> list[int]:
    """Tokens still hidden before step 0..S-1 and after the last: [N, ..., 0], strictly decreasing, so every
    step reveals at least one token. `steps` must be in [1, N]."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"--steps {steps}: must be a whole number >= 1")
    if steps > num_tokens:
        raise ValueError(f"--steps {steps}: at most one step per token ({num_tokens} tokens)")
    fn = SCHEDULES.get(schedule)
    counts = [num_tokens]
    for t in range(1, steps + 1):
        want = int(math.floor(num_tokens * fn(t / steps) + 1e-9))
        # at least one token a step, and leave at least one for each later step
        counts.append(max(min(want, counts[-1] - 1), steps - t))
    counts[-1] = 0
    return counts
