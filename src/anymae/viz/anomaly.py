"""Anomaly heat maps: input | ground-truth mask | one heat map per method (each scaled to its own range)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .grid import image_grid


def heat(values: Tensor, lo: float, hi: float) -> Tensor:
    """[H,W] -> [3,H,W]: a black-red-yellow-white colour ramp over [lo, hi]."""
    t = ((values - lo) / max(hi - lo, 1e-12)).clamp(0, 1)
    return torch.stack([(3 * t).clamp(0, 1), (3 * t - 1).clamp(0, 1), (3 * t - 2).clamp(0, 1)])


def anomaly_picture(images: Tensor, masks: Tensor | None, maps: dict[str, Tensor], path: str | Path,
                    order: list[int]) -> Path:
    """images [M,C,H,W] in [0,1]; masks [M,H,W] (255: unknown); maps {method: [M,H,W]}; `order`: the rows drawn.
    Each method's colours span its 1st..99.9th percentile over the whole test set."""
    ranges = {name: (float(np.quantile(m.numpy(), 0.01)), float(np.quantile(m.numpy(), 0.999))) for name, m in maps.items()}
    rows = []
    for i in order:
        mask = masks[i].float() if masks is not None else torch.zeros(images.shape[-2:])
        mask = torch.where(mask > 1, torch.full_like(mask, 0.5), mask)
        rows.append([images[i], mask.expand(3, -1, -1)] + [heat(m[i], *ranges[name]) for name, m in maps.items()])
    titles = ["input", "defect mask"] + [name.split(" (")[0].split(",")[0][:14] for name in maps]
    return image_grid(rows, titles, path)
