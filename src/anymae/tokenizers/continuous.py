"""Continuous tokens for masked generation (MAR row 34/51, UMD row 1, LMD row 31): real vectors, no codebook.

- `PixelPatchTokenizer`: the pixels of non-overlapping patches (nothing to train; small images).
- `KLAutoencoder`: QLAE's conv autoencoder (`tokenizers/qlae.py`) without quantization, KL-regularised as
  the VAE that MAR and LDM use: the encoder gives a mean and a log-variance per latent dimension, training
  decodes a sample and adds `kl_weight` x KL(q || N(0, I)); `encode` gives the mean.

Both give `encode(x [B,C,H,W] in [-1,1]) -> tokens [B,N,T]` (row-major positions) and `decode(tokens) -> x`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .qlae import QuantizedOutput, conv_decoder, conv_encoder


class PixelPatchTokenizer(nn.Module):
    """Pixels of `patch_size` x `patch_size` patches as tokens: [B,C,H,W] <-> [B,(H/p)(W/p),p*p*C]."""

    kind = "tokenizer"
    trainable = False   # a generator over it needs no tokenizer run

    def __init__(self, image_size: int = 8, channels: int = 1, patch_size: int = 2):
        super().__init__()
        if patch_size < 1 or image_size % patch_size:
            raise ValueError(f"patch_size={patch_size}: must divide image_size={image_size}")
        self.image_size, self.channels, self.patch_size = image_size, channels, patch_size
        self.grid = image_size // patch_size

    @property
    def tokenizer(self) -> "PixelPatchTokenizer":
        return self

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid

    @property
    def token_dim(self) -> int:
        return self.patch_size * self.patch_size * self.channels

    def encode(self, x: Tensor) -> Tensor:
        """x [B,C,H,W] -> tokens [B,N,p*p*C] (patch pixels, channel last)."""
        want = (self.channels, self.image_size, self.image_size)
        if tuple(x.shape[1:]) != want:
            raise ValueError(f"tokenizer expects images [B,{want[0]},{want[1]},{want[2]}], got {list(x.shape)}")
        b, c, p, g = x.shape[0], self.channels, self.patch_size, self.grid
        return x.reshape(b, c, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(b, g * g, p * p * c)

    def decode(self, tokens: Tensor) -> Tensor:
        """tokens [B,N,p*p*C] -> x [B,C,H,W]."""
        b, c, p, g = tokens.shape[0], self.channels, self.patch_size, self.grid
        return tokens.reshape(b, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, g * p, g * p)


class KLAutoencoder(nn.Module):
    """QLAE's conv autoencoder without quantization, KL-regularised (a small VAE): latent [B,h,w,dims]."""

    kind = "tokenizer"

    def __init__(self, image_size: int = 16, channels: int = 3, width: int = 16, dims: int = 4,
                 downsample: int = 2, kl_weight: float = 1e-4):
        super().__init__()
        if downsample not in (1, 2, 4, 8) or image_size % downsample:
            raise ValueError(f"downsample={downsample}: must be 1, 2, 4 or 8 and divide image_size={image_size}")
        self.image_size, self.channels, self.dims, self.kl_weight = image_size, channels, dims, kl_weight
        self.downsample, self.grid = downsample, image_size // downsample
        self.encoder = conv_encoder(channels, width, 2 * dims, downsample)   # mean and log-variance
        self.decoder = conv_decoder(dims, width, channels, downsample)

    @property
    def tokenizer(self) -> "KLAutoencoder":
        return self

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid

    @property
    def token_dim(self) -> int:
        return self.dims

    def moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [B,C,H,W] in [-1,1] -> (mean, log-variance) [B,h,w,dims]."""
        want = (self.channels, self.image_size, self.image_size)
        if tuple(x.shape[1:]) != want:
            raise ValueError(f"tokenizer expects images [B,{want[0]},{want[1]},{want[2]}], got {list(x.shape)}")
        mean, logvar = self.encoder(x).permute(0, 2, 3, 1).chunk(2, -1)
        return mean, logvar.clamp(-30, 20)

    def encode(self, x: Tensor) -> Tensor:
        """x [B,C,H,W] -> tokens [B,h*w,dims] (the posterior mean), row-major positions."""
        return self.moments(x)[0].flatten(1, 2)

    def decode(self, tokens: Tensor) -> Tensor:
        """tokens [B,h*w,dims] -> pixels [B,C,H,W] in about [-1,1]."""
        z = tokens.reshape(tokens.shape[0], self.grid, self.grid, self.dims).permute(0, 3, 1, 2)
        return self.decoder(z)

    def forward(self, x: Tensor, labels: Tensor | None = None, generator: torch.Generator | None = None,
                **_) -> QuantizedOutput:
        """x [B,C,H,W] in [-1,1] -> reconstruction MSE of a posterior sample + kl_weight x KL."""
        mean, logvar = self.moments(x)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        z = mean + (0.5 * logvar).exp() * noise
        recon = self.decoder(z.permute(0, 3, 1, 2))
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean()
        terms = {"reconstruction": F.mse_loss(recon, x), "kl": self.kl_weight * kl}
        return QuantizedOutput(loss=sum(terms.values()), terms=terms, recon=recon, codes=mean.flatten(1, 2))

    def after_step(self) -> None:
        """Nothing to update after an optimizer step."""
