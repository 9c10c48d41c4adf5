"""SparK's hierarchical decoder (rows 48, 17): densify each scale's sparse map with a mask embedding, then a
light UNet upsamples from the deepest map to pixels, adding the shallower maps on the way.

Following SparK's public code (`pretrain/spark.py`, `pretrain/decoder.py`): for each scale, deepest first,
a sparse norm (batch norm over the visible positions for BN CNNs, layer norm for ConvNeXt), a learnable
mask embedding at the masked positions, and a projection to the decoder's width at that scale (1x1 for the
deepest, 3x3 for the others); the width halves at every 2x upsampling block (ConvTranspose 4x4/2, then two
3x3 conv + BN, ReLU6 between); a 1x1 convolution gives the pixels.
"""
from __future__ import annotations

import math

import torch
from timm.layers import trunc_normal_
from torch import Tensor, nn

from ..encoders.sparse_cnn import sparse_batch_norm
from ..masking.base import Mask
from ..tokenizers.base import gather_tokens
from .base import Decoder

CONV = {2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
BN = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


class UNetBlock(nn.Module):
    """x [B,cin,*S] -> [B,cout,*2S]: a 2x transposed convolution, then conv-BN-ReLU6-conv-BN (SparK)."""

    def __init__(self, cin: int, cout: int, spatial: int = 2):
        super().__init__()
        conv, bn = CONV[spatial], BN[spatial]
        self.up_sample = CONV_T[spatial](cin, cin, kernel_size=4, stride=2, padding=1, bias=True)
        self.conv = nn.Sequential(conv(cin, cin, 3, padding=1, bias=False), bn(cin), nn.ReLU6(inplace=True),
                                  conv(cin, cout, 3, padding=1, bias=False), bn(cout))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.up_sample(x))


class DensifyNorm(nn.Module):
    """The norm applied to a sparse map before densifying: 'bn' (statistics over visible positions),
    'ln' (per-position layer norm over channels, ConvNeXt) or 'none'. Masked positions stay zero."""

    def __init__(self, kind: str, width: int, spatial: int = 2):
        super().__init__()
        if kind not in ("bn", "ln", "none"):
            raise ValueError(f"densify_norm must be 'bn', 'ln' or 'none', got {kind!r}")
        self.kind = kind
        self.norm = BN[spatial](width) if kind == "bn" else nn.LayerNorm(width, eps=1e-6) if kind == "ln" else None

    def forward(self, x: Tensor, active: Tensor | None) -> Tensor:
        if self.kind == "none":
            return x
        if self.kind == "bn":
            return self.norm(x) if active is None else sparse_batch_norm(self.norm, x, active)
        x = self.norm(x.movedim(1, -1)).movedim(-1, 1)
        return x if active is None else x * active.to(x.dtype)


class SparKDecoder(Decoder):
    """Sparse feature maps (left by `SparseCNNEncoder` in `tokens.extra["sparse"]`) -> per-patch pixel
    predictions [B,Np,T] for `mask.predict`.

    widths   the encoder's channels at each scale, shallow first (SparK: the 4 stage outputs)
    dim      the decoder's width at the deepest scale (SparK: 768), halved at each upsampling
    upsample the encoder's total downsampling (a power of 2; 32 for ResNet / ConvNeXt): log2 of it UNet blocks
    strides  each scale's downsampling, shallow first (default: halving up to `upsample`); maps that share a
             stride (a dilated last stage, timm's `output_stride`) enter the same UNet block
    """

    def __init__(self, widths: list[int], dim: int = 768, upsample: int = 32, densify_norm: str = "bn",
                 spatial: int = 2, strides: list[int] | None = None):
        super().__init__()
        if upsample < 2 or upsample & (upsample - 1):
            raise ValueError(f"SparK's decoder upsamples by powers of 2; the encoder downsamples by {upsample}")
        blocks = round(math.log2(upsample))
        strides = list(strides) if strides is not None else [upsample // 2 ** i for i in range(len(widths))][::-1]
        if len(strides) != len(widths) or any(upsample % s or s < 2 for s in strides):
            raise ValueError(f"encoder strides {strides} do not fit {len(widths)} scales of a {upsample}x network")
        self.dim, self.upsample, self.spatial = dim, upsample, spatial
        self.channels = [dim // 2 ** i for i in range(blocks + 1)]
        if self.channels[-1] < 1:
            raise ValueError(f"decoder width {dim} halves {blocks} times to nothing; use at least {2 ** blocks}")
        # a map of stride s enters before the UNet block that starts at stride s (level log2(upsample / s))
        self.levels = [round(math.log2(upsample // s)) for s in reversed(strides)]  # deep first
        self.mask_tokens = nn.ParameterList()
        self.densify_norms = nn.ModuleList()
        self.densify_projs = nn.ModuleList()
        for i, (width, level) in enumerate(zip(reversed(widths), self.levels)):
            token = nn.Parameter(torch.zeros(1, width, *([1] * spatial)))
            trunc_normal_(token, mean=0.0, std=0.02, a=-0.02, b=0.02)
            self.mask_tokens.append(token)
            self.densify_norms.append(DensifyNorm(densify_norm, width, spatial))
            out = self.channels[level]
            if i == 0 and width == out:
                self.densify_projs.append(nn.Identity())
            else:
                k = 1 if i == 0 else 3
                self.densify_projs.append(CONV[spatial](width, out, k, padding=k // 2, bias=True))
        self.blocks = nn.ModuleList(UNetBlock(a, b, spatial) for a, b in zip(self.channels[:-1], self.channels[1:]))
        self.proj: nn.Module | None = None
        self.out_channels = 0
        self.init_weights(self.blocks)
        self.init_weights(self.densify_projs)

    @staticmethod
    def init_weights(module: nn.Module) -> None:
        """SparK's LightDecoder init: trunc-normal(0.02) convolutions, zero biases, unit norms."""
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def bind(self, in_dim: int, out_dim: int, position: nn.Module) -> None:
        """out_dim = upsample**spatial * channels (a patch's pixels): the 1x1 output convolution's channels."""
        per_patch = self.upsample ** self.spatial
        if out_dim % per_patch:
            raise ValueError(f"target width {out_dim} is not a whole number of channels of a {self.upsample}-pixel "
                             f"patch; SparK's decoder predicts pixels (target 'pixel')")
        self.out_channels = out_dim // per_patch
        self.proj = CONV[self.spatial](self.channels[-1], self.out_channels, 1, bias=True)
        self.init_weights(self.proj)

    def densify(self, maps: list[Tensor], active: Tensor | None) -> list[Tensor]:
        """Sparse maps (shallow first) -> dense decoder inputs (deep first): norm, mask embedding, projection."""
        out = []
        for i, fmap in enumerate(reversed(maps)):
            here = None if active is None else upsample_active(active, fmap.shape[2:])
            fmap = self.densify_norms[i](fmap, here)
            if here is not None:
                fmap = torch.where(here, fmap, self.mask_tokens[i].to(fmap.dtype).expand_as(fmap))
            out.append(self.densify_projs[i](fmap))
        return out

    def reconstruct(self, tokens) -> Tensor:
        """The full reconstruction [B,C,*S] (normalised-pixel space) from the encoder's sparse maps."""
        sparse = tokens.extra.get("sparse")
        if sparse is None:
            raise ValueError("SparKDecoder reads the maps a SparseCNNEncoder leaves in tokens.extra['sparse']")
        inputs = self.densify(sparse["maps"], sparse["active"])
        x = 0
        for level, block in enumerate(self.blocks):
            for fmap, at in zip(inputs, self.levels):
                if at == level:
                    x = x + fmap
            x = block(x)
        return self.proj(x)

    def forward(self, latents: Tensor, mask: Mask, tokens=None, num_prefix: int = 0) -> Tensor:
        """-> [B,Np,upsample**spatial * C] per-patch values for `mask.predict`, laid out as the tokenizer's."""
        rec = self.reconstruct(tokens)
        return gather_tokens(patchify_any(rec, self.upsample), mask.predict)


def upsample_active(active: Tensor, spatial) -> Tensor:
    """bool [B,1,*grid] -> [B,1,*spatial] by repetition (nearest)."""
    for axis, size in enumerate(spatial):
        active = active.repeat_interleave(size // active.shape[2 + axis], dim=2 + axis)
    return active


def patchify_any(x: Tensor, p: int) -> Tensor:
    """x [B,C,*S] -> [B,N,p^d*C]: patches row-major over the grid, values laid out (p,..,p,C) as MAE's patchify."""
    b, c, *sizes = x.shape
    d = len(sizes)
    shape = [b, c]
    for s in sizes:
        shape += [s // p, p]
    x = x.reshape(shape)
    grid_axes = [2 + 2 * i for i in range(d)]
    inner_axes = [3 + 2 * i for i in range(d)]
    x = x.permute(0, *grid_axes, *inner_axes, 1)
    n = 1
    for s in sizes:
        n *= s // p
    return x.reshape(b, n, p ** d * c)


__all__ = ["SparKDecoder", "UNetBlock", "DensifyNorm", "patchify_any"]
