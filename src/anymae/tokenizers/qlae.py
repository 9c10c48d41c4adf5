"""QLAE (row 52): a small convolutional autoencoder whose latent at each spatial position is quantized
dimension by dimension (`LatentQuantizer`, or the fixed-grid `FiniteScalarQuantizer` option).

For generation the per-position code (D integers in [0, V)) is the generator's token: a grid of
`grid x grid` positions, each with D categorical values (the generator has one categorical head per latent
dimension, see `anymae.generate.model`). Pixels enter and leave in [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .quantize import QUANTIZERS


@dataclass
class QuantizedOutput:
    """One training forward: loss (reconstruction + weighted quantizer losses), its named terms, the
    reconstruction [B,C,H,W] and the codes [B,h,w,D]."""

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)
    recon: Tensor | None = None
    codes: Tensor | None = None


class ResBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1),
                                  nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def conv_encoder(channels: int, width: int, out: int, downsample: int) -> nn.Sequential:
    """[B,C,H,W] -> [B,out,H/downsample,W/downsample]: conv, (ResBlock, stride-2 conv) per halving, ResBlock, 1x1."""
    enc = [nn.Conv2d(channels, width, 3, padding=1)]
    for _ in range({1: 0, 2: 1, 4: 2, 8: 3}[downsample]):
        enc += [ResBlock(width), nn.Conv2d(width, width, 4, stride=2, padding=1)]
    return nn.Sequential(*enc, ResBlock(width), nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, out, 1))


def conv_decoder(dims: int, width: int, channels: int, downsample: int) -> nn.Sequential:
    """[B,dims,h,w] -> [B,channels,h*downsample,w*downsample]: the mirror of `conv_encoder` (nearest upsampling)."""
    dec = [nn.Conv2d(dims, width, 3, padding=1), ResBlock(width)]
    for _ in range({1: 0, 2: 1, 4: 2, 8: 3}[downsample]):
        dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width, 3, padding=1), ResBlock(width)]
    return nn.Sequential(*dec, nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, channels, 3, padding=1))


class QuantizedAutoencoder(nn.Module):
    """Conv encoder (÷`downsample`) -> per-dimension scalar quantizer -> conv decoder (row 52, QLAE).

    `image_size` side in pixels, `channels` in, `width` conv channels, `dims` latent dimensions per position
    (D), `levels` values per dimension (V), `quantizer` "latent" (learnable, QLAE) or "fsq" (fixed grid).
    """

    kind = "tokenizer"   # what `anymae pretrain` trains with the generative trainer (train/generative.py)

    def __init__(self, image_size: int = 32, channels: int = 3, width: int = 64, dims: int = 4, levels: int = 8,
                 downsample: int = 4, quantizer: str = "latent"):
        super().__init__()
        if downsample not in (1, 2, 4, 8) or image_size % downsample:
            raise ValueError(f"downsample={downsample}: must be 1, 2, 4 or 8 and divide image_size={image_size}")
        if quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer={quantizer!r}: known {sorted(QUANTIZERS)}")
        self.image_size, self.channels, self.dims, self.levels = image_size, channels, dims, levels
        self.downsample, self.grid = downsample, image_size // downsample
        self.encoder, self.decoder = conv_encoder(channels, width, dims, downsample), conv_decoder(dims, width, channels, downsample)
        self.quantizer = QUANTIZERS[quantizer](dims, levels)

    @property
    def tokenizer(self) -> "QuantizedAutoencoder":
        """The part that sets the input size (`tokenizer.image_size`, `.channels`), as every anymae model has."""
        return self

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid

    def check_input(self, x: Tensor) -> None:
        want = (self.channels, self.image_size, self.image_size)
        if tuple(x.shape[1:]) != want:
            raise ValueError(f"tokenizer expects images [B,{want[0]},{want[1]},{want[2]}], got {list(x.shape)}")

    def latent(self, x: Tensor) -> Tensor:
        """x [B,C,H,W] in [-1,1] -> continuous latent [B,h,w,D] (before quantization)."""
        self.check_input(x)
        return self.encoder(x).permute(0, 2, 3, 1)

    def encode(self, x: Tensor) -> Tensor:
        """x [B,C,H,W] in [-1,1] -> codes [B,h*w,D] (long, in [0,V)), row-major positions."""
        return self.quantizer.codes(self.latent(x)).flatten(1, 2)

    def decode(self, codes: Tensor) -> Tensor:
        """codes [B,h*w,D] -> pixels [B,C,H,W] in about [-1,1]."""
        values = self.quantizer.lookup(codes).reshape(codes.shape[0], self.grid, self.grid, self.dims)
        return self.decoder(values.permute(0, 3, 1, 2))

    def forward(self, x: Tensor, labels: Tensor | None = None, generator: torch.Generator | None = None,
                **_) -> QuantizedOutput:
        """x [B,C,H,W] in [-1,1] -> reconstruction MSE + the quantizer's weighted losses."""
        q, codes, losses = self.quantizer(self.latent(x))
        recon = self.decoder(q.permute(0, 3, 1, 2))
        mse = F.mse_loss(recon, x)
        terms = {"reconstruction": mse, **losses}
        return QuantizedOutput(loss=sum(terms.values()), terms=terms, recon=recon, codes=codes.flatten(1, 2))

    def after_step(self) -> None:
        """Nothing to update after an optimizer step (the trainers call it on every model)."""
