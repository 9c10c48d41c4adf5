"""Data: built-in sets and folders of user files, and their transforms."""
from __future__ import annotations

from pathlib import Path

import torch

from .builtin import BUILTIN, builtin
from .datasets import TensorImageDataset, stratified_split
from .folder import load_image_folder
from .image import ImageModality, channel_stats, hog_features
from .modality import MODALITIES, Modality, modality_of, register_modality
from .points import POINT_SUFFIXES, PointCloudDataset, PointsModality, load_point_folder, read_points
from .transforms import EvalTransform, PretrainTransform, sample_generator


FOLDER_LOADERS: list[tuple[frozenset, object]] = []


def register_folder_loader(suffixes, loader) -> None:
    """`loader(root, image_size, channels, split) -> Dataset` for folders holding files with these suffixes."""
    FOLDER_LOADERS.append((frozenset(s.lower() for s in suffixes), loader))


register_folder_loader(POINT_SUFFIXES, load_point_folder)


def folder_loader(root: Path):
    """The loader whose suffixes match most files under `root` (images when nothing else matches)."""
    counts: dict[str, int] = {}
    for p in root.rglob("*"):
        if p.is_file():
            counts[p.suffix.lower()] = counts.get(p.suffix.lower(), 0) + 1
    best, best_count = load_image_folder, 0
    for suffixes, loader in FOLDER_LOADERS:
        n = sum(counts.get(s, 0) for s in suffixes)
        if n > best_count:
            best, best_count = loader, n
    return best


def load_dataset(spec: str, split: str = "train", image_size=32, channels: int | None = None, seed: int = 0):
    """A built-in name (`anymae.data.BUILTIN`) or a folder path -> the split's data set.

    `image_size` is the sample size the model expects (an int or (H, W) for images; each
    modality's loader reads what it needs from it).
    """
    if spec in BUILTIN:
        return BUILTIN[spec](split=split, image_size=image_size, seed=seed)
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"{spec!r} is neither a built-in data set ({', '.join(sorted(BUILTIN))}) nor a path")
    if not path.is_dir():
        raise ValueError(f"{spec}: expected a folder of files (or a built-in data set name)")
    loader = folder_loader(path)
    if loader is load_image_folder:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        return load_image_folder(path, size, channels or 3, split=split)
    return loader(path, image_size=image_size, channels=channels, split=split)


__all__ = ["register_folder_loader", "FOLDER_LOADERS", "MODALITIES", "Modality", "modality_of", "register_modality", "ImageModality", "hog_features", "BUILTIN", "builtin", "load_dataset", "channel_stats", "TensorImageDataset",
           "stratified_split", "load_image_folder", "PointCloudDataset", "PointsModality", "load_point_folder", "read_points", "EvalTransform", "PretrainTransform", "sample_generator"]
