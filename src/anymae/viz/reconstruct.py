"""Reconstruction pictures of a run (`anymae reconstruct`, the end of training): the modality's picture
from `viz.pictures` (images: original | masked | prediction | prediction + visible, as in the MAE paper)."""
from __future__ import annotations

from pathlib import Path

import torch

from .pictures import PICTURES, picture_inputs


def reconstruction_picture(model, config, path: str | Path, data: str | None = None, count: int = 8, seed: int = 0,
                           images: torch.Tensor | None = None, ensemble: int = 1) -> Path:
    """Draw `count` samples of the run's data (the test split when there is one) through the model;
    `images` (the modality's model inputs, stacked) replace the data when given."""
    from ..data import MODALITIES, load_dataset
    modality = MODALITIES[config.modality]
    draw = PICTURES.get(modality.name)
    if draw is None:
        raise NotImplementedError(f"no reconstruction picture for modality {modality.name!r}")
    dataset = None
    if images is None:
        spec, size = data or config.data, modality.sample_size(model, config)
        try:
            dataset = load_dataset(spec, split="test", image_size=size, channels=config.channels)
        except ValueError:
            dataset = load_dataset(spec, split="train", image_size=size, channels=config.channels)
    transform = modality.eval_transform(model, config)
    inputs = picture_inputs(transform, dataset, count, seed, images)
    if ensemble < 1:
        raise ValueError(f"--ensemble must be >= 1, got {ensemble}")
    if ensemble > 1:
        if modality.name != "image":
            raise ValueError(f"--ensemble draws image runs; this run's modality is {modality.name}")
        return draw(model, inputs, transform, Path(path), seed=seed, ensemble=ensemble)
    return draw(model, inputs, transform, Path(path), seed=seed)
