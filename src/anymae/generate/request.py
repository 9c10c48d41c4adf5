"""What one `anymae generate` call asks for, shared by image and point-cloud generators: the device, the class
labels (one class, one row a class, or none) and the draws in chunks of at most 250 samples."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

CHUNK = 250   # samples one forward pass draws at most


def generation_device(name: str) -> torch.device:
    """`--device auto` -> CUDA when there is one, else the CPU; anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def requested_class_labels(num_classes: int, n: int, klass: int | None,
                           per_row: int) -> tuple[torch.Tensor | None, int, bool]:
    """-> (labels [n'] or None (unconditional), samples a row of the picture, one row a class?).

    `--class K` gives n samples of K, `per_row` a row; a conditional generator without `--class` gives
    n // num_classes samples of each class, one row a class; an unconditional one gives None."""
    if klass is not None:
        if not num_classes:
            raise ValueError("--class: this generator was trained without classes (unconditional)")
        if not 0 <= klass < num_classes:
            raise ValueError(f"--class {klass}: out of range; this generator knows classes 0..{num_classes - 1}")
        return torch.full((n,), klass, dtype=torch.long), min(per_row, n), False
    if not num_classes:
        return None, min(per_row, n), False
    per = max(1, n // num_classes)
    return torch.arange(num_classes).repeat_interleave(per), per, True


def draw_in_chunks(draw: Callable[[int, Tensor | None], tuple[Tensor, dict]], count: int,
                   labels: Tensor | None) -> tuple[Tensor, dict]:
    """`draw(n, labels [n] or None) -> (samples [n,...], cost)` called on chunks of at most CHUNK -> (all `count`
    samples on the CPU, the last chunk's cost: per-sample figures, the same for every chunk)."""
    samples, cost = [], {}
    for i in range(0, count, CHUNK):
        x, cost = draw(min(CHUNK, count - i), labels[i:i + CHUNK] if labels is not None else None)
        samples.append(x.cpu())
    return torch.cat(samples), cost
