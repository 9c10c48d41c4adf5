"""The image modality (MAE, row 0): crops and flips for pretraining, per-channel normalisation."""
from __future__ import annotations

import torch

from .modality import Modality, register_modality
from .transforms import EvalTransform, PretrainTransform


def channel_stats(data, max_images: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over (up to `max_images` of) an image data set: [C], [C]."""
    images = data.images[:max_images]
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    dims = (0,) + tuple(range(2, x.ndim))
    return x.mean(dim=dims), x.std(dim=dims).clamp_min(1e-3)


@register_modality
class ImageModality(Modality):
    """Images [C,H,W]: MAE's crops and flips for pretraining, a resize for probes and pictures."""

    name = "image"

    def sample_size(self, model, config):
        return model.tokenizer.image_size

    def stats(self, dataset):
        mean, std = channel_stats(dataset)
        return [round(float(m), 5) for m in mean], [round(float(s), 5) for s in std]

    def pretrain_transform(self, model, config):
        return PretrainTransform(model.tokenizer.image_size, torch.tensor(config.mean), torch.tensor(config.std),
                                 scale=tuple(config.crop_scale), colour_jitter=config.colour_jitter)

    def eval_transform(self, model, config):
        return EvalTransform(model.tokenizer.image_size, torch.tensor(config.mean), torch.tensor(config.std))
