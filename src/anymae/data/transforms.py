"""Seeded image transforms: MAE's pretraining augmentation (random resized crop 0.2-1 + flip).

Every random draw comes from a `torch.Generator` seeded from (run seed, epoch, sample index),
so the same run sees the same augmentations after a resume.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator whose stream depends only on (seed, epoch, index)."""
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + epoch * 10_007 + index) % (2**63 - 1))
    return g


def crop_box(height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float],
             generator: torch.Generator) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop box sampling, drawing from `generator`: (top, left, h, w)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        u = torch.rand(4, generator=generator).tolist()
        target_area = area * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u[1])
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(u[2] * (height - h + 1))
            left = int(u[3] * (width - w + 1))
            return top, left, h, w
    # fallback: central crop at the closest allowed ratio
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """x [C,H,W] float -> [C,size] (bilinear, antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = x.shape[-2] > size[0] or x.shape[-1] > size[1]
    return F.interpolate(x.unsqueeze(0), size=size, mode="bilinear", align_corners=False,
                         antialias=shrink).squeeze(0)


class PretrainTransform:
    """MAE pretraining: random resized crop (scale 0.2-1, ratio 3/4-4/3) + horizontal flip + normalise."""

    def __init__(self, size: tuple[int, int], mean: Tensor, std: Tensor, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3),
                 flip: bool = True, colour_jitter: float = 0.0):
        self.size, self.scale, self.ratio, self.flip = tuple(size), scale, ratio, flip
        self.colour_jitter = colour_jitter
        self.mean, self.std = mean.view(-1, 1, 1), std.view(-1, 1, 1)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """x [C,H,W] in [0,1] -> [C,size] normalised."""
        top, left, h, w = crop_box(x.shape[-2], x.shape[-1], self.scale, self.ratio, generator)
        x = resize(x[:, top:top + h, left:left + w], self.size)
        if self.flip and torch.rand(1, generator=generator).item() < 0.5:
            x = x.flip(-1)
        if self.colour_jitter > 0:
            x = jitter_colour(x, self.colour_jitter, generator)
        return (x - self.mean) / self.std


def jitter_colour(x: Tensor, strength: float, generator: torch.Generator, grey_p: float = 0.2) -> Tensor:
    """x [C,H,W] in [0,1] -> the same image with its colour and contrast shortcuts scrambled (SimCLR-style):
    channels shuffled, brightness, contrast and saturation each scaled by a factor in [1-s, 1+s], and
    grey with probability `grey_p`. Shape survives; a target or feature that keys on colour does not."""
    brightness, contrast, saturation, grey_draw = torch.rand(4, generator=generator).tolist()
    brightness, contrast, saturation = (1 + strength * (2 * u - 1) for u in (brightness, contrast, saturation))
    x = x[torch.randperm(x.shape[0], generator=generator)] * brightness
    grey = x.mean(0, keepdim=True)
    if grey_draw < grey_p:
        return ((grey - grey.mean()) * contrast + grey.mean()).clamp(0, 1).expand_as(x)
    x = (x - grey) * saturation + grey
    mean = x.mean()
    return ((x - mean) * contrast + mean).clamp(0, 1)


class EvalTransform:
    """Resize to the model's size and normalise (probes, reconstructions)."""

    def __init__(self, size: tuple[int, int], mean: Tensor, std: Tensor):
        self.size = tuple(size)
        self.mean, self.std = mean.view(-1, 1, 1), std.view(-1, 1, 1)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return (resize(x, self.size) - self.mean) / self.std

    def invert(self, x: Tensor) -> Tensor:
        """normalised [...,C,H,W] -> [0,1] pixels."""
        return (x * self.std.to(x) + self.mean.to(x)).clamp(0, 1)
