"""Pixel files at full precision, whatever is installed (docs/reliability.md, "Pixels of every dtype").

Pillow reads 16-bit colour images (RGB/RGBA PNGs and TIFFs) as 8-bit, keeping the high byte only. Such
files are decoded here by a reader that keeps every bit (`tifffile` for TIFF, `pypng` for PNG) or, when
that package is not installed, refused with a message naming it; they are never silently truncated.

Values are scaled into [0, 1] by their dtype's range:

| dtype | image folders (`read_image`) | array folders (`read_array`) |
|---|---|---|
| bool | 0 / 1 | 0 / 1 |
| uint8, uint16, uint32 | divided by 255, 65535, 4294967295 | the same |
| int8, int16, int32 (signed) | (x - min) / (max - min) of the dtype | kept as values (measurements, e.g. CT) |
| float16/32/64 | kept when in [0, 1], else min-max scaled per file | kept as values |
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

TIFF_SUFFIXES = (".tif", ".tiff")
INSTALL = {"tifffile": "pip install tifffile (or anymae[tiff])", "png": "pip install pypng (or anymae[png16])"}


def missing(package: str, path: Path, what: str) -> ValueError:
    return ValueError(f"{what}; Pillow would read only the high byte of each value, so anymae needs "
                      f"the `{'pypng' if package == 'png' else package}` package to read it: {INSTALL[package]}")


def scale_unit(arr: np.ndarray, signed: str = "range", floats: str = "minmax") -> np.ndarray:
    """`arr` of any dtype -> float64 in [0, 1] by its dtype's range (table above).

    signed: "range" maps the dtype's [min, max] to [0, 1], "keep" keeps the values;
    floats: "minmax" scales a file outside [0, 1] to [0, 1], "keep" keeps the values.
    """
    if arr.dtype == np.bool_:
        return arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.unsignedinteger):
        return arr.astype(np.float64) / float(np.iinfo(arr.dtype).max)
    if np.issubdtype(arr.dtype, np.signedinteger):
        if signed == "keep":
            return arr.astype(np.float64)
        info = np.iinfo(arr.dtype)
        return (arr.astype(np.float64) - info.min) / (float(info.max) - info.min)
    if np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float64)
        if not np.isfinite(out).all():
            raise ValueError("holds NaN or Inf values")
        low, high = (float(out.min()), float(out.max())) if out.size else (0.0, 0.0)
        if floats == "minmax" and (low < 0.0 or high > 1.0):
            out = (out - low) / (high - low) if high > low else np.zeros_like(out)
        return out
    raise ValueError(f"pixels of dtype {arr.dtype} cannot be read as numbers")


def png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, or None when `path` is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(29)
    if len(head) < 29 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    depth, colour = struct.unpack(">BB", head[24:26])
    return depth, colour


def read_png16(path: Path) -> np.ndarray:
    """A 16-bit colour PNG -> uint16 [H,W,C] (C: 2 LA, 3 RGB, 4 RGBA) through pypng."""
    try:
        import png
    except ImportError:
        raise missing("png", path, "16-bit colour PNG") from None
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    arr = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    return arr.reshape(height, width, info["planes"])


def read_tiff(path: Path) -> np.ndarray:
    """A TIFF -> its native-dtype array: [H,W], [H,W,C] (RGB/RGBA) or [P,H,W] (pages), through tifffile."""
    import tifffile
    return np.asarray(tifffile.imread(path))


def pillow_is_exact(img, path: Path) -> None:
    """Refuse a TIFF that Pillow would truncate (more than 8 bits per colour sample) or read in part
    (several pages), naming tifffile."""
    bits = getattr(img, "tag_v2", {}).get(258) if hasattr(img, "tag_v2") else None
    bits = tuple(bits) if isinstance(bits, (tuple, list)) else ((bits,) if bits else ())
    if any(b > 8 for b in bits) and img.mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        raise missing("tifffile", path, f"{bits[0]}-bit {img.mode} TIFF")
    if getattr(img, "n_frames", 1) > 1:
        raise missing("tifffile", path, f"TIFF of {img.n_frames} pages")


def read_deep_pixels(path: Path) -> np.ndarray | None:
    """Pixels that Pillow cannot read exactly, as a native-dtype array [H,W] / [H,W,C] / [P,H,W]; None when
    Pillow reads the file exactly (8-bit files, 16-bit grey PNGs, float TIFFs)."""
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        try:
            import tifffile  # noqa: F401
        except ImportError:
            from PIL import Image
            with Image.open(path) as img:
                pillow_is_exact(img, path)
            return None
        return read_tiff(path)
    header = png_header(path) if suffix == ".png" else None
    if header is not None and header[0] == 16 and header[1] in (2, 4, 6):  # RGB, LA, RGBA at 16 bits
        return read_png16(path)
    return None


def as_channels_last(arr: np.ndarray, path: Path) -> np.ndarray:
    """[H,W] / [H,W,C] / [C,H,W] (C <= 4) -> [H,W,C]; more pages than colours is refused for an image."""
    arr = np.squeeze(arr) if arr.ndim > 3 else arr
    if arr.ndim == 2:
        return arr[..., None]
    if arr.ndim == 3 and arr.shape[-1] in (1, 2, 3, 4):
        return arr
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[0] < min(arr.shape[1:]):
        return arr.transpose(1, 2, 0)
    raise ValueError(f"holds {arr.shape[0] if arr.ndim == 3 else arr.shape} pages/planes of shape "
                     f"{tuple(arr.shape[-2:])}; an image folder reads single images (grey, RGB, RGBA): put "
                     "multi-page stacks in a folder of their own, read as multi-channel arrays")


def deep_image(arr: np.ndarray, path: Path) -> np.ndarray:
    """A native-dtype image -> float64 [H,W,C] in [0,1] with C in (1, 3): alpha composited on black."""
    arr = scale_unit(as_channels_last(arr, path))
    if arr.shape[2] in (2, 4):  # LA / RGBA: composite on black, as the Pillow path does
        arr = arr[..., :-1] * arr[..., -1:]
    return arr
