"""A folder of the user's images: recursive; sub-folder names become labels when every file has one."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .pixels import deep_image, png_header, read_deep_pixels, scale_unit
from .datasets import TensorImageDataset, folder_files, folder_labels, folder_split, list_files, read_each

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def list_images(root: Path) -> list[Path]:
    return list_files(root, IMAGE_SUFFIXES)


def read_image(path: Path, channels: int, name: str | None = None, draft: tuple[int, int] | None = None) -> np.ndarray:
    """-> float [C,H,W] in [0,1]; raises ValueError naming the file when it cannot be used."""
    return read_image_depth(path, channels, name, draft)[0]


def read_image_depth(path: Path, channels: int, name: str | None = None,
                     draft: tuple[int, int] | None = None) -> tuple[np.ndarray, bool]:
    """-> (float [C,H,W] in [0,1], whether the file holds more than 8 bits per sample).

    `path` may be an open binary file (shards), then `name` names it in errors and Pillow decodes it.
    `draft` (H, W): a JPEG is decoded at the smallest DCT scale (1, 1/2, 1/4, 1/8) that still gives at
    least that size (PIL's draft).

    Conversions (docs/reliability.md): grey is repeated to 3 channels and colour averaged to 1;
    RGBA / LA / palette images are composited on black; CMYK and other modes go through RGB;
    every dtype is scaled by its range (data/pixels.py: 16-bit by 65535, signed ints by their dtype's
    range, floats kept in [0,1] else min-max scaled). 16-bit colour PNGs and TIFFs, which Pillow reads as
    8-bit, are read by pypng / tifffile, or refused naming the package to install.
    NaN/Inf pixels, empty or truncated files and undecodable data are errors (the folder reader
    skips such files).
    """
    source, path = path, Path(name) if name else path
    if channels not in (1, 3):
        raise ValueError(f"{path}: image files give 1 or 3 channels, {channels} asked "
                         "(use .npy / .tif arrays for other channel counts)")
    try:
        native = read_deep_pixels(Path(source)) if isinstance(source, (str, Path)) else None
        if native is not None:
            arr, deep = deep_image(native, path), native.dtype != np.uint8
        else:
            with Image.open(source) as img:
                if draft is not None and img.format == "JPEG":
                    img.draft(img.mode, (draft[1], draft[0]))
                img.load()
                arr, deep = pillow_pixels(img, path, channels)
    except ValueError as err:
        raise ValueError(f"{path}: {one_line(err)}") from None
    except Exception as err:  # PIL raises many types on malformed files (OSError, SyntaxError, struct.error, ...)
        raise ValueError(f"{path}: cannot read image ({type(err).__name__}: {one_line(err)})") from None
    if arr.shape[2] == 1 and channels == 3:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 3 and channels == 1:
        arr = arr.mean(axis=2, keepdims=True)
    if not np.isfinite(arr).all():
        raise ValueError(f"{path}: image holds NaN or Inf values")
    if min(arr.shape[:2]) < 2:
        raise ValueError(f"{path}: image of {arr.shape[0]}x{arr.shape[1]} pixels is too small (at least 2x2)")
    return arr.transpose(2, 0, 1), deep


def pillow_pixels(img, path: Path, channels: int) -> tuple[np.ndarray, bool]:
    """A Pillow image that Pillow reads exactly -> (float [H,W,C] in [0,1], more than 8 bits per sample)."""
    if img.mode.startswith("I;16"):
        return scale_unit(np.asarray(img).astype(np.uint16))[..., None], True
    if img.mode == "I":  # 32-bit signed (a 16-bit grey PNG in older Pillows: scaled by 65535)
        header = png_header(path) if path.suffix.lower() == ".png" else None
        native = np.asarray(img, dtype=np.int32)
        arr = scale_unit(native.astype(np.uint16)) if header and header[0] == 16 else scale_unit(native)
        return arr[..., None], True
    if img.mode == "F":
        return scale_unit(np.asarray(img, dtype=np.float32))[..., None], True
    mode = "L" if channels == 1 else "RGB"
    if img.mode in ("RGBA", "LA", "P", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
        black = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, img)
    arr = np.asarray(img.convert(mode), dtype=np.float64) / 255.0
    return (arr[..., None] if arr.ndim == 2 else arr), False


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= 200 else text[:197] + "..."


def load_image_folder(root: str | Path, image_size: tuple[int, int], channels: int = 3, split: str = "all",
                      test_fraction: float = 0.3) -> TensorImageDataset:
    """Decode every image under `root` once, resized to `image_size`, into memory.

    Unreadable files are skipped with one warning naming each, counted in `dataset.skipped`;
    a folder with no readable image is an error.
    """
    from .transforms import resize
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder (nor a built-in data set name)")
    paths = folder_files(root, sorted(IMAGE_SUFFIXES), "image")
    # Cache at twice the model size so random resized crops keep some detail.
    cache = (image_size[0] * 2, image_size[1] * 2)
    if channels not in (1, 3):
        raise ValueError(f"{root}: image files give 1 or 3 channels, {channels} asked "
                         "(use .npy / .tif arrays for other channel counts)")

    def read_cached(_, path: Path) -> torch.Tensor:
        """8-bit files are cached as uint8; deeper ones as float32, so no level of theirs is lost."""
        pixels, deep = read_image_depth(path, channels)
        arr = resize(torch.from_numpy(pixels).float(), cache)
        return arr.clamp(0, 1) if deep else (arr * 255).round().clamp(0, 255).to(torch.uint8)

    files = read_each(root, paths, read_cached, warn=False)
    if not files.items:
        reasons = files.reasons
        shown = "; ".join(reasons[:3]) + (f"; ... ({len(reasons) - 3} more)" if len(reasons) > 3 else "")
        raise ValueError(f"{root}: none of the {len(paths)} image files could be read ({shown})")
    classes, labels = folder_labels(files.folders)
    items = files.items
    if any(item.is_floating_point() for item in items):  # some file is deeper than 8 bits: all as float
        items = [item if item.is_floating_point() else item.float() / 255.0 for item in items]
    data = TensorImageDataset(torch.stack(items), labels, classes=classes, name=str(root))
    data.skipped = files.skipped
    return folder_split(data, root, split, test_fraction)
