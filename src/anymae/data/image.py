"""The image modality (MAE, row 0): crops and flips for pretraining, raw pixels and HOG as baselines."""
from __future__ import annotations

import numpy as np
import torch

from .modality import Modality, model_view, register_modality
from .transforms import EvalTransform, PretrainTransform


def channel_stats(data, max_images: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over (up to `max_images` of) an image data set: [C], [C]."""
    images = data.images[:max_images]
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    dims = (0,) + tuple(range(2, x.ndim))
    return x.mean(dim=dims), x.std(dim=dims).clamp_min(1e-3)


def hog_features(images: torch.Tensor) -> np.ndarray:
    """images [M,C,H,W] in [0,1] -> HOG (9 orientations, 4x4 cells, 2x2 blocks) of the grey image."""
    from skimage.feature import hog
    grey = images.float().mean(1).numpy()
    cell = max(2, grey.shape[-1] // 4)
    return np.stack([hog(g, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2),
                         feature_vector=True) for g in grey])


def stretch(x: torch.Tensor) -> torch.Tensor:
    """x [M,...] -> each sample min-max scaled to [0,1] (normalised values made drawable for HOG)."""
    dims = tuple(range(1, x.ndim))
    low = x.amin(dims, keepdim=True)
    return (x - low) / (x.amax(dims, keepdim=True) - low).clamp_min(1e-6)


@register_modality
class ImageModality(Modality):
    name = "image"

    def sample_size(self, model, config):
        return model.tokenizer.image_size

    def stats(self, dataset):
        mean, std = channel_stats(dataset)
        return [round(float(m), 5) for m in mean], [round(float(s), 5) for s in std]

    def pretrain_transform(self, model, config):
        return PretrainTransform(model.tokenizer.image_size, torch.tensor(config.mean), torch.tensor(config.std),
                                 scale=tuple(config.crop_scale))

    def eval_transform(self, model, config):
        return EvalTransform(model.tokenizer.image_size, torch.tensor(config.mean), torch.tensor(config.std))

    def baselines(self, train, test):
        pixels = [model_view(d) for d in (train, test)]
        return [("raw pixels", pixels[0].flatten(1).numpy(), pixels[1].flatten(1).numpy()),
                ("HOG", hog_features(pixels[0]), hog_features(pixels[1]))]

    def picture(self, model, config, dataset, path, count=8, seed=0, images=None):
        from ..viz.reconstruct import TITLES, reconstruction_rows
        from ..viz.grid import image_grid
        transform, images = self.picture_inputs(model, config, dataset, count, seed, images)
        rows = reconstruction_rows(model, images, transform, seed=seed)
        return image_grid(rows, TITLES, path)
