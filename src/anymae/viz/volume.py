"""Pictures of volumes (rows 15, 17, 25): orthogonal mid-slices (axial, coronal, sagittal) of each panel."""
from __future__ import annotations

from pathlib import Path

from torch import Tensor

from .grid import image_grid

VIEWS = ("axial", "coronal", "sagittal")
SHORT = {"original": "orig", "prediction": "pred", "pred + visible": "pasted"}  # column titles fit 64 px


def mid_slices(volume: Tensor) -> list[Tensor]:
    """volume [C,D,H,W] -> its three mid-slices: axial [C,H,W] (middle depth), coronal [C,D,W] (middle
    height), sagittal [C,D,H] (middle width); depth reads top to bottom in the last two."""
    d, h, w = volume.shape[1:]
    return [volume[:, d // 2], volume[:, :, h // 2], volume[:, :, :, w // 2]]


def volume_grid(rows: list[list[Tensor]], titles: list[str], path: str | Path) -> Path:
    """rows of panels [C,D,H,W] in [0,1] -> one PNG: per row, each panel's three mid-slices side by side,
    titled '<panel> <view>'; a multi-channel volume shows its first channel (grey)."""
    cells, heads = [], [f"{SHORT.get(t, t)} {v[:3]}" for t in titles for v in VIEWS]
    for row in rows:
        cells.append([s[:1] for panel in row for s in mid_slices(panel)])
    return image_grid(cells, heads, path, cell=64)
