"""Video reconstructions (VideoMAE, row 12): PNG strips (frames across, panels down) and animated GIFs."""
from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from ..io.files import write_bytes
from .grid import to_uint8


def _tile(frame: torch.Tensor, cell: int) -> Image.Image:
    """[C,H,W] in [0,1] -> cell x cell RGB tile."""
    return Image.fromarray(to_uint8(frame)).resize((cell, cell), Image.Resampling.NEAREST)


def _png(canvas: Image.Image, path) -> Path:
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())
    return Path(path)


def video_strip(rows: list[list[torch.Tensor]], titles: list[str], path: str | Path, cell: int = 48,
                pad: int = 2, gap: int = 8) -> Path:
    """rows: per clip, one [C,T,H,W] in [0,1] per panel (original, masked, ...) -> one PNG.

    Each clip is a block of len(titles) rows (panel name on the left) by T frame columns.
    """
    font = ImageFont.load_default()
    label, head = 96, 16
    frames = rows[0][0].shape[1]
    block = len(titles) * (cell + pad)
    width = label + frames * (cell + pad) + pad
    height = head + len(rows) * (block + gap)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for t in range(frames):
        draw.text((label + t * (cell + pad), 2), f"t={t}", fill="black", font=font)
    for r, panels in enumerate(rows):
        top = head + r * (block + gap)
        for p, (title, clip) in enumerate(zip(titles, panels)):
            y = top + p * (cell + pad)
            draw.text((4, y + cell // 2 - 6), title, fill="black", font=font)
            for t in range(frames):
                canvas.paste(_tile(clip[:, t], cell), (label + t * (cell + pad), y))
    return _png(canvas, path)


def video_animation(rows: list[list[torch.Tensor]], titles: list[str], path: str | Path, cell: int = 64,
                    pad: int = 4, frame_ms: int = 150) -> Path:
    """The same panels as an animated GIF: one GIF frame per clip frame, clips down, panels across."""
    font = ImageFont.load_default()
    head = 16
    frames = rows[0][0].shape[1]
    width = len(titles) * (cell + pad) + pad
    height = head + len(rows) * (cell + pad) + pad
    pictures = []
    for t in range(frames):
        canvas = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(canvas)
        for c, title in enumerate(titles):
            draw.text((pad + c * (cell + pad), 2), title, fill="black", font=font)
        for r, panels in enumerate(rows):
            for c, clip in enumerate(panels):
                canvas.paste(_tile(clip[:, t], cell), (pad + c * (cell + pad), head + pad + r * (cell + pad)))
        pictures.append(canvas)
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)
    write_bytes(path, buffer.getvalue())
    return Path(path)
