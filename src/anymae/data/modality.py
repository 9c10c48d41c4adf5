"""How one kind of sample (image, video, points, ...) enters the model: its sample size, normalisation
statistics and transforms.

Each data set names its modality (`dataset.modality`, default "image"); training, the probe and the
pictures ask the matching `Modality` for these, so a new modality is one file here (plus, when it
has them, its picture in `viz.pictures` and its baselines in `eval.baselines`).
"""
from __future__ import annotations

from ..registry import Registry

MODALITIES = Registry("modality")


def register_modality(cls):
    MODALITIES.register(cls.name, cls())
    return cls


def modality_of(dataset) -> "Modality":
    return MODALITIES.get(getattr(dataset, "modality", "image"))


class Modality:
    """Base class; methods get the model (read for its tokenizer's sizes) and the run's PretrainConfig."""

    name = "base"

    def sample_size(self, model, config):
        """The sample size the model expects (passed to `load_dataset(image_size=...)`)."""
        return None

    def stats(self, dataset) -> tuple[list | None, list | None]:
        """Per-channel normalisation measured on the training data, or (None, None)."""
        return None, None

    def pretrain_transform(self, model, config):
        """-> callable(sample, generator) giving the model's input for one sample."""
        return None

    def eval_transform(self, model, config):
        """-> callable(sample) giving the model's input without augmentation."""
        return None

    def configure(self, config, data, args: dict) -> None:
        """Settings read from the training data before the model is built (text: its vocabulary);
        `args` are the recipe's arguments with their defaults."""
