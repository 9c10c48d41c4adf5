"""Seeded image transforms: MAE's pretraining augmentation (random resized crop 0.2-1 + flip).

Every random draw comes from a `torch.Generator` seeded from (run seed, epoch, sample index),
so the same run sees the same augmentations after a resume.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

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


def resize_matrix(in_size: int, start: Tensor, length: Tensor, out_size: int) -> Tensor:
    """The [B,out_size,in_size] matrices that cut [start, start+length) out of a line of `in_size` pixels and
    resize it to `out_size`, as `resize` does (bilinear, half-pixel centres, antialiased when shrinking: a
    triangle filter `length / out_size` wide, the edge rows renormalised). start, length: [B] integers."""
    scale = (length.float() / out_size)[:, None, None]                          # [B,1,1]
    centre = scale * (torch.arange(out_size, dtype=torch.float32)[None, :, None] + 0.5)
    offset = torch.arange(in_size, dtype=torch.float32)[None, None, :] - start.float()[:, None, None]
    weights = (1 - ((offset + 0.5 - centre) / scale.clamp_min(1.0)).abs()).clamp_min(0)
    weights = weights * ((offset >= 0) & (offset < length.float()[:, None, None]))
    return weights / weights.sum(-1, keepdim=True)


@dataclass
class CropDraw:
    """One sample's augmentation: its crop box, whether it is flipped, and (with colour jitter) the channel
    order [C], the brightness / contrast / saturation factors and whether it turns grey."""

    box: tuple[int, int, int, int]
    flip: bool
    channel_order: Tensor | None = None
    factors: tuple[float, float, float] | None = None
    grey: bool = False


def draw_colour(channels: int, strength: float, generator: torch.Generator, grey_p: float = 0.2):
    """(channel order [C], brightness / contrast / saturation factors in [1-s, 1+s], grey?)."""
    *draws, grey_draw = torch.rand(4, generator=generator).tolist()
    factors = tuple(1 + strength * (2 * u - 1) for u in draws)
    return torch.randperm(channels, generator=generator), factors, grey_draw < grey_p


def apply_colour(x: Tensor, channel_order: Tensor, factors: Tensor, grey: Tensor) -> Tensor:
    """x [B,C,H,W] in [0,1] -> the batch with each image's channels put in `channel_order` [B,C], scaled by its
    brightness, saturation and contrast (`factors` [B,3]) and made grey where `grey` [B] holds (SimCLR-style)."""
    brightness, contrast, saturation = (f.view(-1, 1, 1, 1) for f in factors.unbind(1))
    x = x[torch.arange(len(x))[:, None], channel_order] * brightness
    luma = x.mean(1, keepdim=True)
    luma_mean = luma.mean((2, 3), keepdim=True)
    grey_image = ((luma - luma_mean) * contrast + luma_mean).clamp(0, 1).expand_as(x)
    x = (x - luma) * saturation + luma
    mean = x.mean((1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean).clamp(0, 1)
    return torch.where(grey.view(-1, 1, 1, 1), grey_image, x)


def jitter_colour(x: Tensor, strength: float, generator: torch.Generator, grey_p: float = 0.2) -> Tensor:
    """x [C,H,W] in [0,1] -> the same image with its colour and contrast shortcuts scrambled (SimCLR-style):
    channels shuffled, brightness, contrast and saturation each scaled by a factor in [1-s, 1+s], and
    grey with probability `grey_p`. Shape survives; a target or feature that keys on colour does not."""
    order, factors, grey = draw_colour(x.shape[0], strength, generator, grey_p)
    return apply_colour(x[None], order[None], torch.tensor([factors]), torch.tensor([grey]))[0]


class PretrainTransform:
    """MAE pretraining: random resized crop (scale 0.2-1, ratio 3/4-4/3) + horizontal flip + normalise.

    Each sample's draws come from its own generator (`draw`); `batch` applies a whole batch's draws at once
    (the crop, resize and flip as two batched matmuls, the colour jitter as broadcast ops), so a data loader
    pays a few ops per batch instead of a dozen per image. `__call__` transforms one image.
    """

    def __init__(self, size: tuple[int, int], mean: Tensor, std: Tensor, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3),
                 flip: bool = True, colour_jitter: float = 0.0):
        self.size, self.scale, self.ratio, self.flip = tuple(size), scale, ratio, flip
        self.colour_jitter = colour_jitter
        self.mean, self.std = mean.view(-1, 1, 1), std.view(-1, 1, 1)

    def draw(self, channels: int, height: int, width: int, generator: torch.Generator) -> CropDraw:
        """One sample's crop, flip and colour, in the order the generator is read."""
        box = crop_box(height, width, self.scale, self.ratio, generator)
        flip = self.flip and torch.rand(1, generator=generator).item() < 0.5
        if self.colour_jitter <= 0:
            return CropDraw(box, flip)
        return CropDraw(box, flip, *draw_colour(channels, self.colour_jitter, generator))

    def batch(self, x: Tensor, generators: list[torch.Generator]) -> Tensor:
        """x [B,C,H,W] in [0,1], one generator per image -> [B,C,size] normalised."""
        draws = [self.draw(*x.shape[1:], g) for g in generators]
        boxes = torch.tensor([d.box for d in draws])                          # [B,4]: top, left, h, w
        rows = resize_matrix(x.shape[-2], boxes[:, 0], boxes[:, 2], self.size[0])
        cols = resize_matrix(x.shape[-1], boxes[:, 1], boxes[:, 3], self.size[1])
        flipped = torch.tensor([d.flip for d in draws])
        cols = torch.where(flipped.view(-1, 1, 1), cols.flip(1), cols)
        x = (rows[:, None] @ x) @ cols.transpose(-1, -2)[:, None]
        if self.colour_jitter > 0:
            x = apply_colour(x, torch.stack([d.channel_order for d in draws]),
                             torch.tensor([d.factors for d in draws]), torch.tensor([d.grey for d in draws]))
        return (x - self.mean) / self.std

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """x [C,H,W] in [0,1] -> [C,size] normalised: one image's draws, cropped by `resize` (F.interpolate,
        fewer ops than the batch's matmuls for a single image; the two agree to float rounding)."""
        draw = self.draw(*x.shape, generator)
        top, left, h, w = draw.box
        x = resize(x[:, top:top + h, left:left + w], self.size)
        x = x.flip(-1) if draw.flip else x
        if self.colour_jitter > 0:
            x = apply_colour(x[None], draw.channel_order[None], torch.tensor([draw.factors]),
                             torch.tensor([draw.grey]))[0]
        return (x - self.mean) / self.std


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
