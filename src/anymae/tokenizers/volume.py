"""3-D volume patches (rows 15, 17, 25: medical volumes; MAE's patches in 3-D): [B,C,D,H,W] -> N = (D/p)(H/p)(W/p)
tokens of p_d*p_h*p_w*C values, a Conv3d patch embedding and a fixed 3-D sin-cos position table."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_finite
from .position import GridPosition


def triple(value, what: str) -> tuple[int, int, int]:
    """int or (d, h, w) -> (d, h, w) of positive whole numbers (ValueError naming `what`)."""
    out = (value,) * 3 if isinstance(value, int) else tuple(int(v) for v in value)
    if len(out) != 3 or min(out) <= 0:
        raise ValueError(f"{what} must be a positive int or (depth, height, width), got {value!r}")
    return out


def volume_grid(volume_size, patch_size) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    """-> (size, patch, grid); ValueError unless each side divides by its patch side."""
    size, patch = triple(volume_size, "volume size"), triple(patch_size, "patch size")
    if any(s % p for s, p in zip(size, patch)):
        raise ValueError(f"volume size {'x'.join(map(str, size))} is not divisible by patch size "
                         f"{'x'.join(map(str, patch))}")
    return size, patch, tuple(s // p for s, p in zip(size, patch))


def patchify_volume(x: Tensor, patch: tuple[int, int, int]) -> Tensor:
    """x [B,C,D,H,W] -> [B,N,pd*ph*pw*C], patches row-major over (D/pd, H/ph, W/pw), values laid out (pd,ph,pw,C)."""
    b, c, d, h, w = x.shape
    pd, ph, pw = patch
    x = x.reshape(b, c, d // pd, pd, h // ph, ph, w // pw, pw)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)
    return x.reshape(b, (d // pd) * (h // ph) * (w // pw), pd * ph * pw * c)


def unpatchify_volume(values: Tensor, patch: tuple[int, int, int], grid: tuple[int, int, int], channels: int) -> Tensor:
    """[B,N,pd*ph*pw*C] -> x [B,C,D,H,W] (exact inverse of `patchify_volume`)."""
    b = values.shape[0]
    (pd, ph, pw), (gd, gh, gw) = patch, grid
    x = values.reshape(b, gd, gh, gw, pd, ph, pw, channels).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.reshape(b, channels, gd * pd, gh * ph, gw * pw)


def check_volumes(x, size: tuple[int, int, int], channels: int | None = None) -> None:
    """ValueError naming the problem unless x is a finite float tensor [B,C,D,H,W] of `size`."""
    if not isinstance(x, Tensor):
        raise ValueError(f"expected volumes as a torch.Tensor [B,C,D,H,W], got {type(x).__name__}")
    if x.ndim != 5:
        raise ValueError(f"expected volumes [B,C,D,H,W], got a tensor of shape {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"expected {channels} channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    if tuple(x.shape[2:]) != tuple(size):
        raise ValueError(f"expected volumes of {'x'.join(map(str, size))}, got {'x'.join(map(str, x.shape[2:]))}")
    if not x.is_floating_point():
        raise ValueError(f"expected floating-point volumes, got {x.dtype}")
    check_finite(x, "volumes")


class VolumeGridTokenizer(Tokenizer):
    """What every tokenizer of volumes [B,C,D,H,W] shares: its input check and cuboid patch layout.
    Subclasses set `image_size`, `patch`, `grid` (from `volume_grid`) and `channels`."""

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.channels, *self.image_size, generator=generator)

    def check_input(self, x: Tensor) -> None:
        check_volumes(x, self.image_size, self.channels)

    def patchify(self, x: Tensor) -> Tensor:
        return patchify_volume(x, self.patch)

    def unpatchify(self, values: Tensor) -> Tensor:
        return unpatchify_volume(values, self.patch, self.grid, self.channels)


class VolumeTokenizer(VolumeGridTokenizer):
    """Cuboid patches of any channel count (MRI sequences, CT), a Conv3d patch embedding (MAE's init) and a
    fixed 3-D sin-cos position (the width split over depth, height and width; `learnable_pos` to learn it).

    volume_size: int or (D, H, W); patch_size: int or (pd, ph, pw), dividing it. `image_size` is the
    volume size too (what data transforms read from every tokenizer).
    """

    def __init__(self, volume_size=32, patch_size=8, channels: int = 1, dim: int = 192, learnable_pos: bool = False,
                 use_pos: bool = True):
        super().__init__()
        self.image_size, self.patch, self.grid = volume_grid(volume_size, patch_size)
        if channels <= 0:
            raise ValueError(f"channels must be positive, got {channels}")
        if dim % 6 and use_pos and not learnable_pos:
            raise ValueError(f"a 3-D sin-cos position needs a width divisible by 6, got {dim}")
        self.channels, self.dim = channels, dim
        self.patch_size = self.patch
        self.patch_dim = self.patch[0] * self.patch[1] * self.patch[2] * channels
        self.use_pos = use_pos
        self.pos = GridPosition(dim, self.grid, learnable=learnable_pos) if use_pos else None
        self.proj = nn.Conv3d(channels, dim, kernel_size=self.patch, stride=self.patch)
        nn.init.xavier_uniform_(self.proj.weight.view(dim, -1))
        nn.init.zeros_(self.proj.bias)

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"volume_size": 8, "patch_size": 4, "channels": 1, "dim": 12},
                {"volume_size": (4, 8, 12), "patch_size": (2, 4, 4), "channels": 3, "dim": 6}]

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return GridPosition(dim, self.grid, learnable=learnable)

    def forward(self, x: Tensor) -> Tokens:
        self.check_input(x)
        x = x.to(self.proj.weight.dtype)
        embed = self.proj(x).flatten(2).transpose(1, 2)  # [B,N,D]
        pos = self.pos() if self.pos is not None else embed.new_zeros(1, embed.shape[1], self.dim)
        return Tokens(values=self.patchify(x), embed=embed, pos=pos, grid=self.grid)


class VoxelGridTokenizer(VolumeGridTokenizer):
    """The voxel grid SparK masks in 3-D (row 17): cuboid patches of the 3-D CNN's downsampling, no embedding.
    values = embed = patch voxels [B,N,p^3*C], positions zero, the volume itself in `extra["image"]` for the CNN
    (as `PixelGridTokenizer` does for images)."""

    def __init__(self, volume_size=32, patch_size=8, channels: int = 1):
        super().__init__()
        self.image_size, self.patch, self.grid = volume_grid(volume_size, patch_size)
        if channels <= 0:
            raise ValueError(f"channels must be positive, got {channels}")
        self.channels, self.patch_size = channels, self.patch
        self.patch_dim = self.dim = self.patch[0] * self.patch[1] * self.patch[2] * channels

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"volume_size": 8, "patch_size": 4, "channels": 1}, {"volume_size": (4, 8, 8), "patch_size": 4, "channels": 2}]

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        """A zero table: SparK's convolutional decoder places its maps by where they are, not by positions."""
        return GridPosition(dim, self.grid, learnable=learnable, table=torch.zeros(self.num_tokens, dim))

    def forward(self, x: Tensor) -> Tokens:
        self.check_input(x)
        x = x.float()
        values = self.patchify(x)
        return Tokens(values=values, embed=values, pos=values.new_zeros(1, *values.shape[1:]), grid=self.grid,
                      extra={"image": x})


class ModalityPosition(nn.Module):
    """Tokens -> [1,M*S,dim]: the 3-D sin-cos table of the patch grid plus a learnable embedding of the modality."""

    def __init__(self, dim: int, grid: tuple[int, int, int], modalities: int, learnable: bool = False):
        super().__init__()
        self.space = GridPosition(dim, grid, learnable=learnable)
        self.modality_embed = nn.Parameter(torch.zeros(modalities, dim))
        nn.init.normal_(self.modality_embed, std=0.02)

    def forward(self, tokens=None) -> Tensor:
        space = self.space()  # [1,S,dim]
        return (space.unsqueeze(1) + self.modality_embed.view(1, -1, 1, space.shape[-1])).flatten(1, 2)


class ModalityVolumeTokenizer(Tokenizer):
    """Co-registered modalities of one subject (MRI sequences; BM-MAE, row 15) as one sample [B,M,D,H,W]: each
    modality cut into the same cuboid patches, embedded by its own Conv3d, placed by the 3-D sin-cos table plus a
    modality embedding. Tokens are modality-major (grid = (M, D/p, H/p, W/p)), `group` [N] the modality id, so
    the modality masker can hide whole modalities; values are one modality's voxels of a patch [p^3]."""

    def __init__(self, volume_size=32, patch_size=8, modalities: int = 3, dim: int = 96, learnable_pos: bool = False):
        super().__init__()
        self.image_size, self.patch, self.spatial = volume_grid(volume_size, patch_size)
        if modalities < 2:
            raise ValueError(f"a multi-modal volume needs at least 2 modalities, got {modalities}")
        self.channels, self.modalities, self.dim = modalities, modalities, dim
        self.grid = (modalities, *self.spatial)
        self.patch_size = self.patch
        self.patch_dim = self.patch[0] * self.patch[1] * self.patch[2]
        self.proj = nn.ModuleList(nn.Conv3d(1, dim, kernel_size=self.patch, stride=self.patch)
                                  for _ in range(modalities))
        for conv in self.proj:
            nn.init.xavier_uniform_(conv.weight.view(dim, -1))
            nn.init.zeros_(conv.bias)
        self.pos = ModalityPosition(dim, self.spatial, modalities, learnable=learnable_pos)
        spatial_count = self.spatial[0] * self.spatial[1] * self.spatial[2]
        self.register_buffer("group", torch.arange(modalities).repeat_interleave(spatial_count), persistent=False)

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"volume_size": 8, "patch_size": 4, "modalities": 2, "dim": 12},
                {"volume_size": (4, 8, 8), "patch_size": (2, 4, 4), "modalities": 3, "dim": 6}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.modalities, *self.image_size, generator=generator)

    def check_input(self, x: Tensor) -> None:
        check_volumes(x, self.image_size, self.modalities)

    def patchify(self, x: Tensor) -> Tensor:
        """x [B,M,D,H,W] -> [B,M*S,p^3], modality-major."""
        b, m = x.shape[:2]
        per = patchify_volume(x.reshape(b * m, 1, *x.shape[2:]), self.patch)  # [B*M,S,p^3]
        return per.reshape(b, m * per.shape[1], self.patch_dim)

    def unpatchify(self, values: Tensor) -> Tensor:
        b = values.shape[0]
        per = values.reshape(b * self.modalities, values.shape[1] // self.modalities, self.patch_dim)
        return unpatchify_volume(per, self.patch, self.spatial, 1).reshape(b, self.modalities, *self.image_size)

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return ModalityPosition(dim, self.spatial, self.modalities, learnable=learnable)

    def forward(self, x: Tensor) -> Tokens:
        self.check_input(x)
        x = x.to(self.proj[0].weight.dtype)
        embed = torch.cat([conv(x[:, m:m + 1]).flatten(2).transpose(1, 2) for m, conv in enumerate(self.proj)], 1)
        return Tokens(values=self.patchify(x), embed=embed, pos=self.pos(), grid=self.grid, group=self.group)
