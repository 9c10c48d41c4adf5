"""How one kind of sample (image, video, points, ...) flows through training, probes and pictures.

Each data set names its modality (`dataset.modality`, default "image"); training, the probe and the
pictures ask the matching `Modality` for transforms, normalisation, baselines and drawings, so a new
modality is one file here and nothing else changes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

MODALITIES: dict[str, "Modality"] = {}


def register_modality(cls):
    MODALITIES[cls.name] = cls()
    return cls


def modality_of(dataset) -> "Modality":
    name = getattr(dataset, "modality", "image")
    if name not in MODALITIES:
        raise ValueError(f"no modality {name!r} registered (known: {', '.join(sorted(MODALITIES))})")
    return MODALITIES[name]


def model_view(dataset) -> torch.Tensor:
    """[M,...] in [0,1]: every sample of `dataset` through its (eval) transform and back, at the model's
    size, before normalisation (what the encoder sees)."""
    tf = dataset.transform
    return torch.stack([tf.invert(tf(dataset.pixels(i))) for i in range(len(dataset))])


class Modality:
    """Base class; every method gets the model and the run's PretrainConfig."""

    name = "base"
    probe_pool: str | None = None         # pooling the probe reads by default (None: the run's `features`)
    probe_classifier: str | None = None   # name of `linear_probe` when a subclass defines one (None: logistic)

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

    def baselines(self, train, test) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Hand-made features for the probe table: [(name, train [M,F], test [M',F])]."""
        return []

    # A subclass may define `linear_probe(train_x, train_y, test_x, test_y, seed) -> accuracy` to replace
    # the probe's logistic regression with its papers' classifier (points: a linear SVM).

    def picture_inputs(self, model, config, dataset, count: int, seed: int, images=None):
        """-> (eval transform, the picture's model inputs): `images` when given, else `count` samples of
        `dataset` drawn by `seed` through the transform, stacked [count,...] (dict samples: {name: [count,...]})."""
        transform = self.eval_transform(model, config)
        if images is not None:
            return transform, images
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(dataset), generator=g)[:count].tolist()
        samples = [transform(dataset.pixels(i)) for i in idx]
        if isinstance(samples[0], dict):
            return transform, {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
        return transform, torch.stack(samples)

    def picture(self, model, config, dataset, path: Path, count: int = 8, seed: int = 0) -> Path:
        """Draw reconstructions of `count` samples of `dataset` into `path` (PNG)."""
        raise NotImplementedError(f"no reconstruction picture for modality {self.name!r}")
