"""Video tubelets (VideoMAE, row 12): clips [B,C,T,H,W] -> N = (T/t)(H/p)(W/p) tokens of t*p*p*C values."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_finite
from .patching import patch_grid
from .position import GridPosition, sincos_1d, sincos_grid


def separable_sincos(dim: int, grid: tuple[int, int, int]) -> Tensor:
    """[T*H*W, dim] sin-cos table over a (time, height, width) grid, separable per axis.

    When `dim` is divisible by 6 this is `sincos_grid` (equal thirds: width, height, time);
    otherwise the two spatial axes get equal even shares and time the (even) rest.
    """
    if dim % 6 == 0:
        return sincos_grid(dim, grid)
    if dim % 2 or dim < 6:
        raise ValueError(f"a 3-D sin-cos position embedding needs an even width of at least 6, got {dim}")
    space = (dim // 3) // 2 * 2
    time = dim - 2 * space
    t, h, w = torch.meshgrid(*[torch.arange(g) for g in grid], indexing="ij")
    return torch.cat([sincos_1d(space, w.reshape(-1)), sincos_1d(space, h.reshape(-1)),
                      sincos_1d(time, t.reshape(-1))], dim=1)


def tubelet_position(dim: int, grid: tuple[int, int, int], learnable: bool = False) -> GridPosition:
    """Tokens -> [1,N,dim]: a fixed (or learnable, sin-cos initialised) separable 3-D table."""
    return GridPosition(dim, grid, learnable=learnable, table=separable_sincos(dim, grid))


class TubeletTokenizer(Tokenizer):
    """Space-time cubes of t x p x p pixels, a Conv3d embedding and a 3-D sin-cos position (VideoMAE).

    frames, image_size: the clip the model takes (T and H x W), divisible by `tubelet` and `patch_size`.
    frame_stride: how far apart the T frames are sampled from a video (a data-side setting the
    video modality reads; it does not change the tokens).
    Tubelet values are laid out (t, p, p, C) per token; tokens run time-major over (T/t, H/p, W/p).
    """

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"frames": 4, "image_size": 8, "patch_size": 4, "tubelet": 2, "channels": 3, "dim": 12},
                {"frames": 2, "image_size": (4, 8), "patch_size": 2, "tubelet": 1, "channels": 1, "dim": 6}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.channels, self.frames, *self.image_size, generator=generator)

    def __init__(self, frames: int = 16, image_size: int | tuple[int, int] = 224, patch_size: int = 16,
                 tubelet: int = 2, channels: int = 3, dim: int = 768, learnable_pos: bool = False,
                 frame_stride: int = 1):
        super().__init__()
        (h, w), _ = patch_grid(image_size, patch_size, what="frame")
        if tubelet <= 0 or frames % tubelet:
            raise ValueError(f"{frames} frames are not divisible by tubelet length {tubelet}")
        if channels <= 0:
            raise ValueError(f"channels must be positive, got {channels}")
        if frame_stride <= 0:
            raise ValueError(f"frame_stride must be positive, got {frame_stride}")
        self.frames, self.image_size, self.patch_size, self.tubelet = frames, (h, w), patch_size, tubelet
        self.channels, self.dim, self.frame_stride = channels, dim, frame_stride
        self.clip_size = (frames, h, w)
        self.grid = (frames // tubelet, h // patch_size, w // patch_size)
        self.patch_dim = tubelet * patch_size * patch_size * channels
        self.proj = nn.Conv3d(channels, dim, kernel_size=(tubelet, patch_size, patch_size),
                              stride=(tubelet, patch_size, patch_size))
        self.pos = tubelet_position(dim, self.grid, learnable=learnable_pos)
        nn.init.xavier_uniform_(self.proj.weight.view(dim, -1))
        nn.init.zeros_(self.proj.bias)

    def check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise ValueError(f"expected clips as a torch.Tensor [B,C,T,H,W], got {type(x).__name__}")
        if x.ndim != 5:
            raise ValueError(f"expected clips [B,C,T,H,W], got a tensor of shape {tuple(x.shape)}")
        if x.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {x.shape[1]} (shape {tuple(x.shape)})")
        if tuple(x.shape[2:]) != self.clip_size:
            t, h, w = self.clip_size
            raise ValueError(f"expected clips of {t} frames of {h}x{w}, got {x.shape[2]} of {x.shape[3]}x{x.shape[4]}")
        if not x.is_floating_point():
            raise ValueError(f"expected floating-point clips, got {x.dtype}")
        check_finite(x, "clips")

    def patchify(self, x: Tensor) -> Tensor:
        """x [B,C,T,H,W] -> tubelets [B,N,t*p*p*C]."""
        b, c = x.shape[:2]
        (gt, gh, gw), t, p = self.grid, self.tubelet, self.patch_size
        x = x.reshape(b, c, gt, t, gh, p, gw, p)
        return torch.einsum("bcxtypzq->bxyztpqc", x).reshape(b, gt * gh * gw, self.patch_dim)

    def unpatchify(self, values: Tensor) -> Tensor:
        """tubelets [B,N,t*p*p*C] -> x [B,C,T,H,W] (exact inverse of `patchify`)."""
        b = values.shape[0]
        (gt, gh, gw), t, p, c = self.grid, self.tubelet, self.patch_size, self.channels
        x = values.reshape(b, gt, gh, gw, t, p, p, c)
        return torch.einsum("bxyztpqc->bcxtypzq", x).reshape(b, c, gt * t, gh * p, gw * p)

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return tubelet_position(dim, self.grid, learnable=learnable)

    def forward(self, x: Tensor) -> Tokens:
        self.check_input(x)
        x = x.to(self.proj.weight.dtype)  # float64 / float16 inputs follow the weights
        embed = self.proj(x).flatten(2).transpose(1, 2)  # [B,N,D], time-major like patchify
        return Tokens(values=self.patchify(x), embed=embed, pos=self.pos(), grid=self.grid)


__all__ = ["TubeletTokenizer", "tubelet_position", "separable_sincos"]
