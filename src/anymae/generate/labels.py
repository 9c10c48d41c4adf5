"""Which class labels a `generate` call asks for: one class (`--class K`), one row a class, or none."""
from __future__ import annotations

import torch


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
