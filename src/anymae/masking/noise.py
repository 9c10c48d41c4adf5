"""ColorMAE (row 4): data-independent masks made by filtering random noise, from a precomputed bank.

White noise is filtered in the Fourier domain with a radial transfer function of the spatial
frequency f (cycles per token, 0..0.5 along an axis):

  red     low-pass    exp(-f^2 / 2 s^2)                    s = `cutoff` (0.08)
  blue    high-pass   1 - exp(-f^2 / 2 s^2)                s = `cutoff` (0.25 for blue)
  green   band-pass   exp(-(f - f0)^2 / 2 w^2)             f0 = `centre` (0.22), w = `width` (0.05)
  purple  band-stop   1 - exp(-(f - f0)^2 / 2 w^2)

A bank of large periodic noise maps is made once per colour (fixed `bank_seed`); each sample is a
random crop of a random map with a random flip / transpose, and the tokens with the largest noise
values are hidden (exact count, as random masking), so a step costs an index gather and an argsort.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Mask, Masker, MaskerExample, mask_from_permutation, num_visible, uniform, check_sample_args
from .registry import register_masker

COLORS = ("red", "blue", "green", "purple")
DEFAULT_CUTOFF = {"red": 0.08, "blue": 0.25}


def radial_frequency(size: int) -> Tensor:
    """[size,size] |f| in cycles per sample of the FFT grid (0 at [0,0], 0.5 at the Nyquist axis)."""
    f = torch.fft.fftfreq(size, dtype=torch.float64)
    return torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)


def color_filter(color: str, f: Tensor, cutoff: float | None = None, centre: float = 0.22,
                 width: float = 0.05) -> Tensor:
    """The radial transfer function of one noise colour, evaluated at frequencies `f`."""
    if color not in COLORS:
        raise ValueError(f"noise masker: color must be one of {', '.join(COLORS)}, got {color!r}")
    if color in ("red", "blue"):
        s = cutoff if cutoff is not None else DEFAULT_CUTOFF[color]
        low = torch.exp(-f ** 2 / (2 * s ** 2))
        return low if color == "red" else 1.0 - low
    band = torch.exp(-(f - centre) ** 2 / (2 * width ** 2))
    return band if color == "green" else 1.0 - band


def noise_bank(color: str, count: int, size: int, seed: int, **filter_args) -> Tensor:
    """`count` periodic maps [count,size,size] of white noise filtered to `color`, each standardised."""
    g = torch.Generator().manual_seed(seed)
    white = torch.randn(count, size, size, generator=g, dtype=torch.float64)
    transfer = color_filter(color, radial_frequency(size), **filter_args)
    maps = torch.fft.ifft2(torch.fft.fft2(white) * transfer).real
    maps = (maps - maps.mean((1, 2), keepdim=True)) / maps.std((1, 2), keepdim=True).clamp_min(1e-12)
    return maps.float()


def radial_power(masks: Tensor, bins: int | None = None) -> tuple[Tensor, Tensor]:
    """masks [B,H,W] (0/1) -> (frequencies [K], mean radial power spectrum [K]) of the zero-mean masks.

    The measurement behind the noise masker's tests and gallery: |FFT|^2 averaged over samples and
    over rings of equal |f| (ring width 1/H cycles per token), DC excluded.
    """
    b, h, w = masks.shape
    x = masks.double() - masks.double().mean((1, 2), keepdim=True)
    power = (torch.fft.fft2(x).abs() ** 2).mean(0) / (h * w)
    fy, fx = torch.fft.fftfreq(h, dtype=torch.float64), torch.fft.fftfreq(w, dtype=torch.float64)
    f = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    step = 1.0 / max(h, w)
    ring = torch.round(f / step).long()
    bins = bins or int(ring.max()) + 1
    total = torch.zeros(bins, dtype=torch.float64).index_add_(0, ring.flatten().clamp_max(bins - 1), power.flatten())
    count = torch.zeros(bins, dtype=torch.float64).index_add_(0, ring.flatten().clamp_max(bins - 1),
                                                              torch.ones_like(power.flatten()))
    keep = count > 0
    keep[0] = False
    return (torch.arange(bins, dtype=torch.float64) * step)[keep], (total / count.clamp_min(1))[keep]


@register_masker("noise")
class NoiseMasker(Masker):
    """ColorMAE's filtered-noise masks: `color` red (low-pass), blue (high-pass), green (band-pass),
    purple (band-stop); the hidden tokens are those with the largest filtered noise, exactly as many
    as random masking hides. Works on 2-D token grids.

    bank: maps per colour; bank_size: side of each map in tokens (crops must fit); bank_seed fixes
    the bank (the step's generator picks map, crop and flip). cutoff/centre/width tune the filter.
    """

    def __init__(self, ratio: float = 0.75, color: str = "green", bank: int = 16, bank_size: int = 128,
                 bank_seed: int = 0, cutoff: float | None = None, centre: float = 0.22, width: float = 0.05):
        super().__init__()
        num_visible(4, ratio)
        color_filter(color, torch.zeros(1), cutoff, centre, width)  # validates the colour
        if bank < 1 or bank_size < 2:
            raise ValueError(f"noise masker: bank ({bank}) and bank_size ({bank_size}) must be positive")
        self.ratio, self.color = ratio, color
        self.bank, self.bank_size, self.bank_seed = bank, bank_size, bank_seed
        self.filter_args = {"cutoff": cutoff, "centre": centre, "width": width}
        self._maps: dict[tuple, Tensor] = {}

    @classmethod
    def example(cls, spatial=(14, 14)) -> MaskerExample:
        return MaskerExample(grid=tuple(spatial), variants=[{"color": c} for c in COLORS], spectrum=True)

    def maps(self, size: int, device) -> Tensor:
        """The bank [bank,S,S] on `device`, made on first use (S >= size)."""
        side = max(self.bank_size, size)
        key = (side, str(device))
        if key not in self._maps:
            self._maps[key] = noise_bank(self.color, self.bank, side, self.bank_seed, **self.filter_args).to(device)
        return self._maps[key]

    def noise(self, batch_size: int, grid: tuple[int, int], generator: torch.Generator | None, device) -> Tensor:
        """[B,H,W] random crops of the bank with random flips (and transposes on square grids)."""
        if len(grid) != 2:
            raise ValueError(f"noise masker works on 2-D token grids, got grid {grid}")
        h, w = grid
        bank = self.maps(max(h, w), device)
        side = bank.shape[-1]
        u = uniform((batch_size, 6), generator, device)
        which = (u[:, 0] * bank.shape[0]).long().clamp_max(bank.shape[0] - 1)
        # the maps are periodic, so a crop may wrap around: every top-left corner is valid
        top = (u[:, 1] * side).long().clamp_max(side - 1)
        left = (u[:, 2] * side).long().clamp_max(side - 1)
        rows = torch.arange(h, device=device)
        cols = torch.arange(w, device=device)
        rows = torch.where(u[:, 3:4] < 0.5, rows, h - 1 - rows)  # vertical flip [B,h]
        cols = torch.where(u[:, 4:5] < 0.5, cols, w - 1 - cols)  # horizontal flip [B,w]
        rows = (top[:, None] + rows) % side
        cols = (left[:, None] + cols) % side
        transpose = (u[:, 5] < 0.5) & (h == w)
        r = torch.where(transpose[:, None, None], cols[:, None, :].expand(-1, h, w), rows[:, :, None].expand(-1, h, w))
        c = torch.where(transpose[:, None, None], rows[:, :, None].expand(-1, h, w), cols[:, None, :].expand(-1, h, w))
        return bank[which[:, None, None], r, c]

    def sample(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> Mask:
        check_sample_args(batch_size, grid)
        noise = self.noise(batch_size, tuple(grid), generator, device).flatten(1)  # [B,N]
        order = torch.argsort(noise, dim=1)  # ascending: the largest noise values are hidden
        return mask_from_permutation(order, num_visible(noise.shape[1], self.ratio))

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, color={self.color!r}"


def spectrum_summary(freq: Tensor, power: Tensor, low: float = 0.12, high: float = 0.32) -> dict[str, float]:
    """Mean power in the low (f < low), mid and high (f > high) bands of a radial spectrum."""
    bands = {"low": freq < low, "mid": (freq >= low) & (freq <= high), "high": freq > high}
    return {k: float(power[m].mean()) if bool(m.any()) else math.nan for k, m in bands.items()}
