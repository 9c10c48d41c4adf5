"""Folders of multi-channel arrays (`.npy`, `.tif`): microscopy, remote sensing, medical stacks.

Layout `CxHxW` or `HxWxC` is stated in an optional `anymae.yaml` at the folder root (`layout: CHW`)
or inferred (the channel axis is the short one; equal first and last axes are refused with a message
saying how to state it). `bands: [[centre_nm, width_nm], ...]` there makes the folder spectral.
A folder holding one sub-folder per modality with matching file names is read as multi-modal samples.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch
import yaml

from .pixels import pillow_is_exact, scale_unit
from .datasets import TensorImageDataset, check_split, folder_labels, folder_split, report_skipped

ARRAY_SUFFIXES = {".npy", ".tif", ".tiff"}
LAYOUTS = ("CHW", "HWC")
SETTINGS_FILE = "anymae.yaml"


def folder_settings(root: Path) -> dict:
    """The folder's anymae.yaml (layout, bands), or {}."""
    path = root / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        settings = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: expected a mapping such as 'layout: CHW'")
    layout = settings.get("layout")
    if layout is not None and str(layout).upper() not in LAYOUTS:
        raise ValueError(f"{path}: layout must be one of {LAYOUTS}, got {layout!r}")
    return settings


class LayoutError(ValueError):
    """The array layout cannot be inferred; the whole folder needs it stated."""


def infer_layout(shape: tuple, path: Path, channels: int | None = None, root: Path | None = None) -> str:
    """A 3-D array's layout, CHW or HWC, from its shape (and the expected channel count when known)."""
    first, last = shape[0], shape[-1]
    if channels is not None and (first == channels) != (last == channels):
        return "CHW" if first == channels else "HWC"
    if first < last and first < shape[1]:
        return "CHW"
    if last < first and last < shape[1]:
        return "HWC"
    raise LayoutError(f"{path}: cannot tell whether the array of shape {tuple(shape)} is CxHxW or HxWxC; "
                      f"state it in {(root or path.parent) / SETTINGS_FILE} with a line 'layout: CHW' "
                      f"(or 'layout: HWC')")


def load_raw(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        try:
            import tifffile
            return tifffile.imread(path)
        except ImportError:  # Pillow reads 8-bit and grey 16-bit/float TIFFs exactly; the rest is refused
            from PIL import Image
            with Image.open(path) as img:
                pillow_is_exact(img, path)
                return np.asarray(img)
    except (ValueError, OSError) as err:
        raise ValueError(f"{path}: cannot read array ({err})") from None


def read_array(path: Path, channels: int | None = None, layout: str | None = None,
               root: Path | None = None) -> np.ndarray:
    """One file -> float [C,H,W]: unsigned ints scaled by their range (uint8 by 255, uint16 by 65535, ...),
    signed ints and floats kept (data/pixels.py); NaN/Inf refused."""
    arr = load_raw(Path(path))
    if arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim == 3:
        layout = (layout or infer_layout(arr.shape, Path(path), channels, root)).upper()
        if layout == "HWC":
            arr = arr.transpose(2, 0, 1)
    else:
        raise ValueError(f"{path}: expected a 2-D or 3-D array (CxHxW or HxWxC), got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError(f"{path}: array holds NaN or Inf values")
    try:
        arr = scale_unit(arr, signed="keep", floats="keep").astype(np.float32)  # unsigned ints by their range
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    if channels is not None and arr.shape[0] != channels:
        if arr.shape[0] == 1 and channels == 3:
            arr = np.repeat(arr, 3, axis=0)
        else:
            raise ValueError(f"{path}: expected {channels} channels, got {arr.shape[0]} (array {arr.shape})")
    return arr


class MultiChannelDataset(TensorImageDataset):
    """Images with any channel count whose channels are not colours (stains, bands, markers)."""

    modality = "multichannel"


def load_array_folder(root: str | Path, image_size=32, channels: int | None = None, split: str = "all",
                      test_fraction: float = 0.3):
    """Every array under `root`, resized to twice the model size, into memory (labels = sub-folder names
    when every file has one). Files that cannot be read, and files whose channel count differs from the
    one most files have, are skipped and named once each (`report_skipped`)."""
    from .multimodal import DictDataset, load_modality_folder, modality_folders
    from .transforms import resize
    check_split(split)
    root = Path(root)
    settings = folder_settings(root)
    found = modality_folders(root)
    if found is not None and len(found) > 1 and set(found) <= {"rgb", "depth", "semseg"}:
        return load_modality_folder(root, image_size, channels, split)
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in ARRAY_SUFFIXES)
    if not paths:
        raise ValueError(f"{root}: no array files found (looked for {', '.join(sorted(ARRAY_SUFFIXES))})")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    cache = (2 * size[0], 2 * size[1])
    layout = settings.get("layout")
    read, skipped, reasons = [], [], []
    for path in paths:
        try:
            read.append((path, read_array(path, channels, layout, root)))
        except LayoutError:
            raise
        except ValueError as err:
            report_skipped(path, str(err), stacklevel=2)
            skipped.append(str(path))
            reasons.append(str(err))
    if not read:
        shown = "; ".join(reasons[:3]) + (f"; ... ({len(reasons) - 3} more)" if len(reasons) > 3 else "")
        raise ValueError(f"{root}: none of the {len(paths)} array files could be read ({shown})")
    # the channel count most files have wins; files with another count are named and skipped
    counts = Counter(arr.shape[0] for _, arr in read)
    keep = max(counts, key=lambda c: (counts[c], -[a.shape[0] for _, a in read].index(c)))
    arrays, names = [], []
    for path, arr in read:
        if arr.shape[0] != keep:
            report_skipped(path, f"{path}: {arr.shape[0]} channels, while {counts[keep]} of the {len(read)} "
                                 f"readable files have {keep} (kept those)", stacklevel=2)
            skipped.append(str(path))
            continue
        arrays.append(resize(torch.from_numpy(arr), cache))
        names.append(path.relative_to(root).parent.as_posix())
    classes, labels = folder_labels(names)
    images = torch.stack(arrays)
    if "bands" in settings:
        try:
            bands = torch.tensor(settings["bands"], dtype=torch.float32)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{root / SETTINGS_FILE}: bands must be a list of [centre_nm, width_nm] numbers "
                             f"({' '.join(str(err).split())})") from None
        if bands.ndim == 2 and bands.shape[-1] == 2 and (not bool(torch.isfinite(bands).all())
                                                         or bool((bands <= 0).any())):
            raise ValueError(f"{root / SETTINGS_FILE}: bands must hold positive, finite [centre_nm, width_nm] "
                             f"numbers, got {settings['bands']!r}")
        if bands.shape != (images.shape[1], 2):
            raise ValueError(f"{root / SETTINGS_FILE}: bands must list [centre_nm, width_nm] for each of the "
                             f"{images.shape[1]} channels, got shape {tuple(bands.shape)}")
        data = DictDataset({"pixels": images, "bands": bands.expand(len(images), -1, -1).clone()}, labels,
                           classes=classes, name=str(root), modality="spectral")
    else:
        data = MultiChannelDataset(images, labels, classes=classes, name=str(root))
    data = folder_split(data, root, split, test_fraction)
    data.skipped = skipped
    return data
