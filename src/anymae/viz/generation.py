"""Pictures of generated samples: a PNG grid, one row a class when the samples are class-conditional."""
from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from ..io.files import write_bytes
from .grid import to_uint8


def sample_grid(images: torch.Tensor, path: str | Path, per_row: int = 8, row_titles: list[str] | None = None,
                cell: int = 64, pad: int = 2) -> Path:
    """images [B,C,H,W] in [0,1] -> one PNG, `per_row` images a row, each row titled on its left when given."""
    rows = -(-len(images) // per_row)
    font = ImageFont.load_default()
    left = (max(len(t) for t in row_titles) * 6 + 8) if row_titles else 0
    canvas = Image.new("RGB", (left + per_row * (cell + pad) + pad, rows * (cell + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, img in enumerate(images):
        r, c = divmod(i, per_row)
        tile = Image.fromarray(to_uint8(img)).resize((cell, cell), Image.Resampling.NEAREST)
        canvas.paste(tile, (left + pad + c * (cell + pad), pad + r * (cell + pad)))
    for r, title in enumerate(row_titles or []):
        draw.text((4, pad + r * (cell + pad) + cell // 2 - 6), title, fill="black", font=font)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())
    return Path(path)
