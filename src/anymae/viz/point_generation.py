"""Pictures of generated point clouds (MAR-3D, row 51): a PNG grid of 3-D scatter plots, one row a class."""
from __future__ import annotations

from pathlib import Path

import torch

from .grid import write_figure


def cloud_grid(clouds: torch.Tensor, path: str | Path, per_row: int = 6, row_titles: list[str] | None = None,
               cell: float = 1.6, point_size: float = 1.0) -> Path:
    """clouds [B,P,3] (in about the unit sphere) -> one PNG, `per_row` clouds a row, each row titled on its left;
    the same view and axes for every cloud (y up)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = -(-len(clouds) // per_row)
    fig = plt.figure(figsize=(cell * per_row + (1.0 if row_titles else 0), cell * rows))
    left = 1.0 / (cell * per_row + 1.0) if row_titles else 0.0
    width, height = (1 - left) / per_row, 1 / rows
    for i, cloud in enumerate(clouds):
        r, c = divmod(i, per_row)
        ax = fig.add_axes([left + (c + 0.04) * width, 1 - (r + 0.96) * height, 0.92 * width, 0.92 * height],
                          projection="3d")
        ax.set_box_aspect((1, 1, 1), zoom=1.1)
        p = cloud.detach().float().cpu().numpy()
        ax.scatter(p[:, 0], p[:, 2], p[:, 1], s=point_size, c=p[:, 1], cmap="viridis", depthshade=False,
                   vmin=-1, vmax=1)
        ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
        ax.set_axis_off()
    for r, title in enumerate(row_titles or []):
        fig.text(0.005, 1 - (r + 0.5) * height, title, va="center", ha="left", fontsize=9)
    return write_figure(fig, path)
