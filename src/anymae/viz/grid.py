"""Image grids with column titles, drawn with Pillow and written atomically as PNG."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..io.files import write_bytes


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[C,H,W] in [0,1] -> HxWx3 uint8 (grey repeated; more than 3 channels: the first 3)."""
    x = x.detach().float().clamp(0, 1).cpu()
    if x.shape[0] == 1:
        x = x.repeat(3, 1, 1)
    elif x.shape[0] == 2:
        x = torch.cat([x, x[:1]], 0)
    return (x[:3].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def image_grid(rows: list[list[torch.Tensor]], titles: list[str], path: str | Path, cell: int = 96,
               pad: int = 4) -> Path:
    """rows of [C,H,W] images in [0,1] -> one PNG with a title over each column."""
    font = ImageFont.load_default()
    head = 16
    n_rows, n_cols = len(rows), len(titles)
    canvas = Image.new("RGB", (n_cols * (cell + pad) + pad, head + n_rows * (cell + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(titles):
        draw.text((pad + c * (cell + pad), 2), title, fill="black", font=font)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            tile = Image.fromarray(to_uint8(img)).resize((cell, cell), Image.Resampling.NEAREST)
            canvas.paste(tile, (pad + c * (cell + pad), head + pad + r * (cell + pad)))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())
    return Path(path)


PALETTE = torch.tensor([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                        [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
                        [0, 128, 128], [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0]]) / 255.0


def colour_classes(labels: torch.Tensor) -> torch.Tensor:
    """Class map [H,W] or [1,H,W] -> [3,H,W] colours (class 0 black; the palette repeats past 16)."""
    labels = labels.reshape(labels.shape[-2:]).long()
    return PALETTE[labels % len(PALETTE)].permute(2, 0, 1)


def scale_for_view(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """[C,H,W] in original units -> [0,1] for display, with a fixed range per modality."""
    return ((x - lo) / max(hi - lo, 1e-6)).clamp(0, 1)


def write_figure(fig, path: str | Path, dpi: int = 80) -> Path:
    """A matplotlib figure -> PNG at `path` (written whole, via write_bytes); the figure is closed."""
    import matplotlib.pyplot as plt
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return Path(path)
