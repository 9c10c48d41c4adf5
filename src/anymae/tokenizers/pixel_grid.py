"""The pixel grid that SparK masks (rows 48, 17): patches of the CNN's downsampling, no embedding.

A CNN encoder reads the image itself; the tokens are its patches (one per position of the CNN's deepest
feature map), which the masker hides and the pixel target normalises. `embed` is the patch pixels and
`dim` their count, because nothing learnable sits between the image and the CNN.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_images
from .patching import patch_grid, patchify_image, unpatchify_image
from .position import GridPosition


class PixelGridTokenizer(Tokenizer):
    """x [B,C,H,W] -> Tokens over the (H/p, W/p) grid: values = embed = patch pixels [B,N,p*p*C] (MAE's
    layout), positions zero, the image itself in `extra["image"]` for the CNN. `patch_size` is the CNN's
    downsampling (32 for ResNet / ConvNeXt), so a hidden patch is one position of the deepest map."""

    def __init__(self, image_size: int | tuple[int, int] = 224, patch_size: int = 32, channels: int = 3):
        super().__init__()
        self.image_size, self.grid = patch_grid(image_size, patch_size, "image (SparK masks whole CNN-stride patches)")
        if channels <= 0:
            raise ValueError(f"channels must be positive, got {channels}")
        self.patch_size, self.channels = patch_size, channels
        self.patch_dim = self.dim = patch_size * patch_size * channels

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"image_size": 8, "patch_size": 4, "channels": 3}, {"image_size": (4, 8), "patch_size": 2, "channels": 1}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.channels, *self.image_size, generator=generator)

    def check_input(self, x: Tensor) -> None:
        check_images(x, self.image_size, self.channels)

    def patchify(self, x: Tensor) -> Tensor:
        return patchify_image(x, self.patch_size)

    def unpatchify(self, values: Tensor) -> Tensor:
        return unpatchify_image(values, self.patch_size, self.grid, self.channels)

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        """A zero table: SparK's convolutional decoder places its maps by where they are, not by positions."""
        return GridPosition(dim, self.grid, learnable=learnable, table=torch.zeros(self.num_tokens, dim))

    def forward(self, x: Tensor) -> Tokens:
        self.check_input(x)
        x = x.float()  # the CNN's weights are float32 (autocast still applies)
        values = self.patchify(x)
        return Tokens(values=values, embed=values, pos=values.new_zeros(1, *values.shape[1:]), grid=self.grid,
                      extra={"image": x})
