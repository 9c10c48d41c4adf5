"""Spectrum-aware patches (SMARTIES, row 3): each band's patch is projected according to its wavelength
(centre and width, given per sample), so sensors with different band sets share one token space."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_images
from .patching import patch_blocks, patch_grid, patchify_image, unpatchify_image
from .position import GridPosition


def split_spectral_input(x, default_bands: Tensor | None) -> tuple[Tensor, Tensor]:
    """x {"pixels": [B,C,H,W], "bands": [B,C,2] or [C,2] (centre, width in nm)} or a tensor -> (pixels, bands [B,C,2])."""
    if isinstance(x, dict):
        if "pixels" not in x or "bands" not in x:
            raise ValueError(f"expected a dict with 'pixels' and 'bands', got keys {sorted(x)}")
        if not isinstance(x["pixels"], Tensor):
            raise ValueError(f"expected 'pixels' as a torch.Tensor [B,C,H,W], got {type(x['pixels']).__name__}")
        pixels, bands = x["pixels"], torch.as_tensor(x["bands"], dtype=torch.float32, device=x["pixels"].device)
    else:
        if default_bands is None:
            raise ValueError("a spectral image needs its bands: pass {'pixels': x, 'bands': [C,2] centre/width nm}")
        if not isinstance(x, Tensor):
            raise ValueError(f"expected spectral images as a torch.Tensor [B,C,H,W], got {type(x).__name__}")
        pixels, bands = x, default_bands.to(x.device)
    if pixels.ndim != 4:
        raise ValueError(f"expected spectral images [B,C,H,W], got shape {tuple(pixels.shape)}")
    if bands.ndim == 2:
        bands = bands.unsqueeze(0).expand(pixels.shape[0], -1, -1)
    if bands.shape != (pixels.shape[0], pixels.shape[1], 2):
        raise ValueError(f"bands must be [B,C,2] (centre, width) for pixels {tuple(pixels.shape)}, "
                         f"got {tuple(bands.shape)}")
    if bool((bands[..., 0] <= 0).any()) or bool((bands[..., 1] <= 0).any()):
        raise ValueError("band centres and widths must be positive (nanometres)")
    return pixels, bands


class SpectralTokenizer(Tokenizer):
    """[B,C,H,W] + bands [B,C,2] -> N = (H/p)(W/p) tokens, the same N for any band set.

    K spectral anchors sit evenly in log-wavelength over `span` nm. Each band spreads over the
    anchors by a Gaussian response (its width, at least one anchor spacing); each anchor's value is
    the response-weighted mean of the bands that cover it, times its coverage (in [0,1]). One linear
    projection per anchor maps the resampled patch to the token, plus an embedding of which anchors
    were covered. Sums over bands make the token independent of band order.

    Patch values (targets) stay in the sample's own bands, laid out (p, p, C) as MAE's `patchify`;
    `channels` is the band count the decoder predicts (the training sensor's). An optional
    `band_mask` [B,C] in the input hides bands from the encoder while the targets keep them all
    (SMARTIES-style cross-sensor training: see the spectral modality's band subsets).

    Cross-sensor token mixup (SMARTIES): when the input also carries `sensor_masks` [B,2,C] (the bands two
    sensors see) and `sensor_map` [B,N] (0/1: which sensor each position's token comes from), the sample
    is tokenised once per sensor and the tokens are mixed position by position (`Tokens.extra
    ["sensor_map"]`); the targets stay the full spectrum, which holds each sensor's bands at every
    position. `mixup` (the fraction of positions from the second sensor) tells the data pipeline to draw
    them (data/spectral.py); 0 turns it off.
    """

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"image_size": 8, "patch_size": 4, "channels": 4, "dim": 16, "anchors": 4,
                 "bands": [[490.0, 65.0], [560.0, 35.0], [665.0, 30.0], [842.0, 115.0]]}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.channels, *self.image_size, generator=generator)

    def __init__(self, image_size: int | tuple[int, int] = 32, patch_size: int = 4, channels: int = 13,
                 dim: int = 192, anchors: int = 16, span: tuple[float, float] = (400.0, 2500.0),
                 bands: list | None = None, learnable_pos: bool = False, mixup: float = 0.0):
        super().__init__()
        if not 0.0 <= mixup < 1.0:
            raise ValueError(f"mixup (the fraction of tokens from the second sensor) must be in [0, 1), got {mixup}")
        self.mixup = mixup
        self.image_size, self.grid = patch_grid(image_size, patch_size)
        if anchors < 2:
            raise ValueError(f"need at least 2 spectral anchors, got {anchors}")
        self.patch_size, self.channels, self.dim = patch_size, channels, dim
        self.patch_dim = patch_size * patch_size * channels
        log_anchors = torch.linspace(math.log(span[0]), math.log(span[1]), anchors)
        self.register_buffer("log_anchors", log_anchors, persistent=False)
        self.spacing = float(log_anchors[1] - log_anchors[0])
        area = patch_size * patch_size
        self.weight = nn.Parameter(torch.empty(anchors, area, dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.coverage_embed = nn.Parameter(torch.zeros(anchors, dim))
        bound = math.sqrt(6.0 / (area * anchors + dim))  # xavier over the flattened (anchor, pixel) input
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.normal_(self.coverage_embed, std=0.02)
        self.register_buffer("default_bands", torch.tensor(bands, dtype=torch.float32) if bands else None,
                             persistent=False)
        self.pos = GridPosition(dim, self.grid, learnable=learnable_pos)

    def response(self, bands: Tensor) -> Tensor:
        """bands [B,C,2] (centre, width nm) -> response of each band at each anchor [B,C,K] in [0,1]."""
        centre, width = bands[..., 0:1], bands[..., 1:2]
        sigma = torch.clamp(width / (2.0 * centre), min=self.spacing)  # log-space half width
        return torch.exp(-0.5 * ((self.log_anchors - centre.log()) / sigma) ** 2)

    def resample(self, x: Tensor, bands: Tensor, band_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x [B,C,H,W] -> (anchor images [B,K,H,W], coverage [B,K]); band_mask [B,C] (1 = seen) drops bands."""
        r = self.response(bands)                                   # [B,C,K]
        if band_mask is not None:
            r = r * band_mask.to(r.dtype).unsqueeze(-1)
        total = r.sum(1)                                           # [B,K]
        coverage = total.clamp(max=1.0)
        weights = r / total.clamp_min(1e-6).unsqueeze(1) * coverage.unsqueeze(1)
        return torch.einsum("bck,bchw->bkhw", weights, x), coverage

    def check_input(self, x: Tensor) -> None:
        check_images(x, self.image_size)

    def patchify(self, x) -> Tensor:
        """x [B,C,H,W] (or the dict) -> patches [B,N,p*p*C]."""
        x = x["pixels"] if isinstance(x, dict) else x
        return patchify_image(x, self.patch_size)

    def unpatchify(self, values: Tensor) -> Tensor:
        """patches [B,N,p*p*C] -> x [B,C,H,W] (C from the patch width)."""
        p = self.patch_size
        return unpatchify_image(values, p, self.grid, values.shape[-1] // (p * p))

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return GridPosition(dim, self.grid, learnable=learnable)

    def forward(self, x) -> Tokens:
        pixels, bands = split_spectral_input(x, self.default_bands)
        self.check_input(pixels)
        pixels = pixels.to(self.weight.dtype)  # float64 / float16 inputs follow the weights
        extra = {"bands": bands}
        if isinstance(x, dict) and "sensor_map" in x:   # cross-sensor token mixup: two sensors, one token map
            sensors, where = x["sensor_masks"], x["sensor_map"].to(pixels.device).long()
            if sensors.shape != (pixels.shape[0], 2, pixels.shape[1]) or where.shape != (pixels.shape[0], self.num_tokens):
                raise ValueError(f"sensor_masks must be [B,2,C] and sensor_map [B,N] for pixels {tuple(pixels.shape)}, "
                                 f"got {tuple(sensors.shape)} and {tuple(where.shape)}")
            first, second = (self.embed_bands(pixels, bands, sensors[:, i]) for i in (0, 1))
            embed = torch.where(where.unsqueeze(-1).bool(), second, first)
            extra["sensor_map"] = where
        else:
            embed = self.embed_bands(pixels, bands, x.get("band_mask") if isinstance(x, dict) else None)
        return Tokens(values=self.patchify(pixels), embed=embed, pos=self.pos(), grid=self.grid, extra=extra)

    def embed_bands(self, pixels: Tensor, bands: Tensor, band_mask: Tensor | None) -> Tensor:
        """pixels [B,C,H,W] seen through `band_mask` [B,C] (None: every band) -> embeddings [B,N,D]."""
        anchors, coverage = self.resample(pixels, bands, band_mask)  # [B,K,H,W], [B,K]
        patches = patch_blocks(anchors, self.patch_size).flatten(3)  # [B,N,K,p*p]
        embed = torch.einsum("bnka,kad->bnd", patches, self.weight) + self.bias
        return embed + (coverage @ self.coverage_embed).unsqueeze(1)
