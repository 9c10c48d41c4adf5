"""Frequency masking (Masked Frequency Modeling, row 40): hide a band of the image spectrum instead of
patches. The input is corrupted in the Fourier domain (a low-pass or high-pass disc is zeroed) and the
encoder sees every token; the loss compares spectra on the hidden band (targets/frequency.py)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .base import Mask, Masker, uniform
from .registry import register_masker


@dataclass
class FrequencyMask(Mask):
    """A Mask that keeps and predicts every token, plus the hidden band of the spectrum.

    band  [B,1,H,W] bool, True where the frequency is hidden (layout of `torch.fft.fft2`)
    """

    band: Tensor | None = None


def radial_frequency(height: int, width: int, device=None) -> Tensor:
    """[H,W] distance of each `fft2` bin from zero frequency, 1 = Nyquist along an axis."""
    fy = torch.fft.fftfreq(height, device=device) * 2.0
    fx = torch.fft.fftfreq(width, device=device) * 2.0
    return torch.sqrt(fy.view(-1, 1) ** 2 + fx.view(1, -1) ** 2)


def every_token_mask(batch_size: int, num_tokens: int, device) -> Mask:
    order = torch.arange(num_tokens, device=device).expand(batch_size, -1)
    return Mask.from_order(order, num_tokens).with_predict(order)


@register_masker("frequency")
class FrequencyMasker(Masker):
    """Zero a disc of radius `radius` (low-pass masking: the low frequencies are hidden) or its
    complement (high-pass masking), chosen per sample with probability `low_prob` for the former.

    `corrupt(x, generator) -> (x', FrequencyMask)`: x' = real(ifft2(fft2(x) * visible band)).
    `ratio` is the mean fraction of frequencies hidden (for tables that print it).
    """

    corrupts_input = True

    def __init__(self, radius: float = 0.4, low_prob: float = 0.5, ratio: float | None = None,
                 grid: tuple[int, ...] | None = None):
        """`grid`: the token grid, when the masker is used without a model (the mask gallery)."""
        super().__init__()
        if not 0.0 < radius < 2 ** 0.5:
            raise ValueError(f"frequency masker: radius must be in (0, sqrt 2), got {radius}")
        if not 0.0 <= low_prob <= 1.0:
            raise ValueError(f"frequency masker: low_prob must be in [0, 1], got {low_prob}")
        self.radius, self.low_prob = radius, low_prob
        if grid is not None:
            self.num_tokens = math.prod(grid)

    @classmethod
    def example(cls, spatial: tuple[int, int] = (14, 14)):
        """Gallery rows (masking/base.py `MaskerExample`): low-pass and high-pass masking; each tile is the
        corrupted image, no token is hidden."""
        from .base import MaskerExample
        return MaskerExample(grid=tuple(spatial),
                             variants=[{"low_prob": 1.0, "grid": tuple(spatial)}, {"low_prob": 0.0, "grid": tuple(spatial)}],
                             note="tiles: the image after the band is removed")

    @property
    def ratio(self) -> float:
        """Mean hidden fraction of the spectrum on a 32x32 grid (the radius sets it)."""
        low = float((radial_frequency(32, 32) < self.radius).float().mean())
        return self.low_prob * low + (1 - self.low_prob) * (1 - low)

    @ratio.setter
    def ratio(self, value) -> None:
        pass  # the band is set by `radius`; a ratio from the CLI does not apply

    def bands(self, batch_size: int, height: int, width: int, generator=None, device="cpu") -> Tensor:
        """-> band [B,1,H,W] bool, True where hidden."""
        low = uniform((batch_size,), generator, device) < self.low_prob                    # [B]
        inside = radial_frequency(height, width, device) < self.radius                     # [H,W]
        band = torch.where(low.view(-1, 1, 1), inside.unsqueeze(0), ~inside.unsqueeze(0))
        return band.unsqueeze(1)

    def corrupt(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, FrequencyMask]:
        """x [B,C,H,W] -> (x with the hidden band removed, FrequencyMask)."""
        if x.ndim != 4:
            raise ValueError(f"frequency masking needs images [B,C,H,W], got shape {tuple(x.shape)}")
        b, _, h, w = x.shape
        band = self.bands(b, h, w, generator, x.device)
        spectrum = torch.fft.fft2(x.float(), norm="ortho")
        corrupted = torch.fft.ifft2(spectrum * (~band), norm="ortho").real.to(x.dtype)
        return corrupted, self.mask_for(band, b, x.device)

    def bind(self, owner) -> None:
        """Learn the token count from a tokenizer or a model (MaskedAutoencoder calls this with its
        tokenizer; a masker swapped into a built model needs it too): the corruption runs before tokenizing."""
        self.num_tokens = getattr(owner, "tokenizer", owner).num_tokens

    def mask_for(self, band: Tensor, batch_size: int, device) -> FrequencyMask:
        n = self.num_tokens
        if not n:
            raise ValueError("frequency masker is not bound to a tokenizer (MaskedAutoencoder binds it)")
        base = every_token_mask(batch_size, n, device)
        return FrequencyMask(base.keep, base.hidden, base.restore, base.bool, base.predict, band=band)

    num_tokens = 0

    def forward(self, tokens, generator=None, scores=None) -> Mask:
        return every_token_mask(tokens.batch_size, tokens.num_tokens, tokens.embed.device)

    def sample(self, batch_size, grid, generator=None, device="cpu", noise=None) -> Mask:
        n = 1
        for g in grid:
            n *= g
        return every_token_mask(batch_size, n, device)

    def extra_repr(self) -> str:
        return f"radius={self.radius}, low_prob={self.low_prob}"
