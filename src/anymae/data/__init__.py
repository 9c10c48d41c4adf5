"""Data: built-in sets and folders of user files, and their transforms."""
from __future__ import annotations

from pathlib import Path

import torch

from .builtin import BUILTIN, BUILTIN_MODALITY, builtin
from .datasets import TensorImageDataset, stratified_split
from .folder import load_image_folder
from .transforms import EvalTransform, PretrainTransform, sample_generator


def load_dataset(spec: str, split: str = "train", image_size: int | tuple[int, int] = 32, channels: int | None = None,
                 seed: int = 0):
    """A built-in name (`anymae.data.BUILTIN`) or a folder path -> the split's data set."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if spec in BUILTIN:
        return BUILTIN[spec](split=split, image_size=size[0], seed=seed)
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"{spec!r} is neither a built-in data set ({', '.join(sorted(BUILTIN))}) nor a path")
    return load_image_folder(path, size, channels or 3, split=split)


def channel_stats(data: TensorImageDataset, max_images: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over (up to `max_images` of) a data set: [C], [C]."""
    images = data.images[:max_images]
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return mean, std


__all__ = ["BUILTIN", "BUILTIN_MODALITY", "builtin", "load_dataset", "channel_stats", "TensorImageDataset",
           "stratified_split", "load_image_folder", "EvalTransform", "PretrainTransform", "sample_generator"]
