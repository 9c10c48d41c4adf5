"""The probes' held-out split: the part of the training split that picks a probe's setting (C, an epoch)."""
from __future__ import annotations

import numpy as np


def held_out_split(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` training samples -> (validation indices: a random 20%, at least one; fitting indices: the rest)."""
    order = np.random.default_rng(seed).permutation(count)
    cut = max(1, count // 5)
    return order[:cut], order[cut:]
