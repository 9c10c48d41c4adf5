"""Image patches (MAE, row 0): [B,C,H,W] -> N = (H/p)(W/p) tokens of p*p*C values."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_images
from .patching import patch_blocks, patch_embedding, patch_grid, patchify_image, unpatchify_image
from .position import GridPosition


class PatchStem(nn.Module):
    """A small CNN run inside each patch (convolutional tokenizer for small data, as SCOTT): x [B,C,H,W] -> [B,D,H/p,W/p].

    Patches are folded into the batch first, so every 3x3 convolution is zero-padded at the patch border and a
    token never sees a pixel of another patch: masking stays exact. Stages of (3x3 conv, GELU, stride-2 3x3 conv,
    GELU) halve the patch until it is 2x2 or smaller, doubling `width` each stage; a linear layer makes the token.
    """

    def __init__(self, channels: int, dim: int, patch_size: int, width: int = 32):
        super().__init__()
        layers, c, side = [], channels, patch_size
        while side > 2:
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.GELU(), nn.Conv2d(width, width, 3, stride=2, padding=1),
                       nn.GELU()]
            c, side, width = width, (side + 1) // 2, width * 2
        self.convs = nn.Sequential(*layers)
        self.out = nn.Linear(c * side * side, dim)
        self.patch_size = patch_size

    @property
    def weight(self) -> Tensor:
        return self.out.weight

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        p = self.patch_size
        patches = patch_blocks(x, p).reshape(-1, c, p, p)  # [B*N,C,p,p]
        z = self.out(self.convs(patches).flatten(1))  # [B*N,D]
        return z.reshape(b, h // p, w // p, -1).permute(0, 3, 1, 2)


class PatchTokenizer(Tokenizer):
    """Square patches of any channel count, a linear patch embedding and a 2-D sin-cos position.

    image_size: int or (H, W), each divisible by `patch_size`.
    Patch values are laid out (p, p, C) per patch, as MAE's `patchify`.
    `stem_width` > 0 embeds each patch with a `PatchStem` CNN of that first width instead of one linear map.
    `keep_image=True` also hands the image on in `extra["image"]`, for encoders that read it (StemViTEncoder).
    """

    def __init__(self, image_size: int | tuple[int, int] = 224, patch_size: int = 16, channels: int = 3,
                 dim: int = 768, learnable_pos: bool = False, use_pos: bool = True,
                 stem_width: int = 0, keep_image: bool = False):
        super().__init__()
        self.keep_image = keep_image
        self.image_size, self.grid = patch_grid(image_size, patch_size)
        if channels <= 0:
            raise ValueError(f"channels must be positive, got {channels}")
        self.patch_size, self.channels, self.dim = patch_size, channels, dim
        self.patch_dim = patch_size * patch_size * channels
        self.use_pos = use_pos
        self.pos = GridPosition(dim, self.grid, learnable=learnable_pos) if use_pos else None
        if stem_width > 0:
            self.proj = PatchStem(channels, dim, patch_size, stem_width)
        else:
            self.proj = patch_embedding(channels, dim, patch_size)

    def check_input(self, x: Tensor) -> None:
        check_images(x, self.image_size, self.channels)

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"image_size": 8, "patch_size": 4, "channels": 3, "dim": 16},
                {"image_size": (4, 8), "patch_size": 2, "channels": 1, "dim": 8}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.channels, *self.image_size, generator=generator)

    def patchify(self, x: Tensor) -> Tensor:
        """x [B,C,H,W] -> patches [B,N,p*p*C]."""
        return patchify_image(x, self.patch_size)

    def unpatchify(self, values: Tensor) -> Tensor:
        """patches [B,N,p*p*C] -> x [B,C,H,W] (exact inverse of `patchify`)."""
        return unpatchify_image(values, self.patch_size, self.grid, self.channels)

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return GridPosition(dim, self.grid, learnable=learnable)

    def forward(self, x: Tensor) -> Tokens:
        self.check_input(x)
        x = x.to(self.proj.weight.dtype)  # float64 / float16 inputs follow the weights (autocast still applies)
        embed = self.proj(x).flatten(2).transpose(1, 2)  # [B,N,D]
        pos = self.pos() if self.pos is not None else embed.new_zeros(1, embed.shape[1], self.dim)
        return Tokens(values=self.patchify(x), embed=embed, pos=pos, grid=self.grid,
                      extra={"image": x} if self.keep_image else {})
