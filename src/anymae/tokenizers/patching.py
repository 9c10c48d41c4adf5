"""Square image patches as MAE cuts them (row 0), shared by the 2-D tokenizers: the grid check,
patchify and its inverse, and the linear patch projection."""
from __future__ import annotations

import torch
from torch import Tensor, nn


def patch_grid(image_size: int | tuple[int, int], patch_size: int,
               what: str = "image") -> tuple[tuple[int, int], tuple[int, int]]:
    """image_size int or (H, W) -> ((H, W), (H/p, W/p)); ValueError unless both divide by `patch_size`."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if patch_size <= 0 or h % patch_size or w % patch_size:
        raise ValueError(f"{what} size {h}x{w} is not divisible by patch size {patch_size}")
    return (h, w), (h // patch_size, w // patch_size)


def patch_embedding(channels: int, dim: int, patch_size: int) -> nn.Conv2d:
    """x [B,C,H,W] -> [B,D,H/p,W/p]: MAE's patch projection, a stride-p convolution initialised like a
    linear layer (xavier on the flattened kernel, zero bias)."""
    proj = nn.Conv2d(channels, dim, kernel_size=patch_size, stride=patch_size)
    nn.init.xavier_uniform_(proj.weight.view(dim, -1))
    nn.init.zeros_(proj.bias)
    return proj


def patch_blocks(x: Tensor, patch_size: int) -> Tensor:
    """x [B,C,H,W] -> [B,N,C,p,p]: each patch's pixels, patches row-major over the (H/p, W/p) grid."""
    b, c, h, w = x.shape
    p = patch_size
    x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // p) * (w // p), c, p, p)


def patchify_image(x: Tensor, patch_size: int) -> Tensor:
    """x [B,C,H,W] -> patches [B,N,p*p*C], laid out (p, p, C) per patch as MAE's `patchify`."""
    b, c, h, w = x.shape
    p = patch_size
    x = x.reshape(b, c, h // p, p, w // p, p)
    return torch.einsum("bchpwq->bhwpqc", x).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify_image(values: Tensor, patch_size: int, grid: tuple[int, int], channels: int) -> Tensor:
    """patches [B,N,p*p*C] -> x [B,C,H,W] over the (H/p, W/p) `grid` (exact inverse of `patchify_image`)."""
    b = values.shape[0]
    p, (gh, gw), c = patch_size, grid, channels
    x = values.reshape(b, gh, gw, p, p, c)
    return torch.einsum("bhwpqc->bchpwq", x).reshape(b, c, gh * p, gw * p)
