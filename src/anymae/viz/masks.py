"""Mask gallery (`anymae masks`): sampled masks of registered maskers over one image, and for maskers
whose example asks for it (ColorMAE's noise) the measured power spectrum of their masks beside them.

Reads only the masker registry and each masker's `example()` (masking/base.py `MaskerExample`),
so any registered masker is drawn: leading grid dims (time slots, channels, modalities) become
panels side by side, corrupting maskers (`corrupts_input`) show the corrupted image.
"""
from __future__ import annotations

import inspect
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ..io.files import write_bytes
from ..masking import MASKERS, make_masker
from ..masking.noise import radial_power
from ..masking.registry import SCHEDULE_ARGS
from ..tokenizers.base import Tokens

MAX_PANELS = 4


@dataclass
class GalleryRow:
    title: str
    tiles: list[np.ndarray]                     # HxWx3 float in [0,1]
    spectrum: tuple | None = None  # (2-D power, freq, radial power, random masks' flat level)


def shapes_image(size: int = 224, seed: int = 3) -> torch.Tensor:
    """One image of the built-in `shapes` data: [3,size,size] in [0,1]."""
    from ..data.builtin import render_shapes
    rng = np.random.default_rng(seed)
    return torch.from_numpy(render_shapes(np.array([seed % 10]), size, rng)[0]).float()


def load_image(path: str | Path, size: int) -> torch.Tensor:
    """An image file -> [3,size,size] in [0,1] (resized, aspect not kept)."""
    from ..data.folder import read_image
    x = torch.from_numpy(read_image(Path(path), 3)).float().unsqueeze(0)
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


def patch_values(image: torch.Tensor, spatial: tuple[int, int]) -> torch.Tensor:
    """[C,H,W] -> [h*w, p*p*C] patches of the image resized to the token grid's multiple."""
    h, w = spatial
    c, height, _ = image.shape
    p = max(1, height // max(h, w))
    x = F.interpolate(image[None], size=(h * p, w * p), mode="bilinear", antialias=True, align_corners=False)[0]
    x = x.reshape(c, h, p, w, p).permute(1, 3, 2, 4, 0)
    return x.reshape(h * w, p * p * c)


def example_tokens(example, image: torch.Tensor, batch: int) -> Tokens:
    """Made-up Tokens for a masker's example grid: the image's patches in every leading slot."""
    spatial = tuple(example.grid[-2:])
    values = patch_values(image, spatial)  # [h*w,P]
    lead = math.prod(example.grid[:-2])
    values = values.repeat(lead, 1).unsqueeze(0).expand(batch, -1, -1)
    n = values.shape[1]
    return Tokens(values=values, embed=torch.zeros(batch, n, 1), pos=torch.zeros(1, n, 1), grid=tuple(example.grid),
                  group=example.group)


def overlay(image: torch.Tensor, hidden: torch.Tensor) -> np.ndarray:
    """image [3,H,W], hidden [h,w] bool -> HxWx3: hidden patches light grey (a trace of the image left),
    visible ones as they are."""
    _, height, width = image.shape
    up = F.interpolate(hidden[None, None].float(), size=(height, width), mode="nearest")[0]
    out = image * (1 - up) + (0.15 * image + 0.72) * up
    return out.permute(1, 2, 0).numpy()


def mask_tile(image: torch.Tensor, hidden: torch.Tensor, grid: tuple[int, ...]) -> np.ndarray:
    """hidden [N] over `grid` -> the image with hidden patches greyed, one panel per leading slot."""
    spatial = grid[-2:]
    slots = hidden.reshape(-1, *spatial)[:MAX_PANELS]
    panels = [overlay(image, s) for s in slots]
    if len(panels) == 1:
        return panels[0]
    gap = np.ones((panels[0].shape[0], 4, 3))
    return np.concatenate([x for p in panels for x in (p, gap)][:-1], axis=1)


def accepted_args(cls, args: dict) -> dict:
    """The subset of `args` masker class `cls` takes (schedule arguments go to every masker)."""
    params = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in args.items() if k in params or k in SCHEDULE_ARGS}


def gallery_rows(names: list[str], image: torch.Tensor, ratio: float | None = None, samples: int = 4,
                 spatial: tuple[int, int] = (14, 14), seed: int = 0, masker_args: dict | None = None,
                 spectrum_draws: int = 512, progress: bool = True) -> list[GalleryRow]:
    """Sample `samples` masks of every variant of every named masker over `image` [3,H,W]."""
    rows = []
    jobs = []
    for name in names:
        if name not in MASKERS:
            raise ValueError(f"unknown masker {name!r}; known: {', '.join(sorted(MASKERS))}")
        cls = MASKERS[name]
        example = cls.example(spatial)
        args = dict(masker_args or {})
        if len(names) > 1:
            args = accepted_args(cls, args)
        for variant in example.variants:
            jobs.append((name, example, {**variant, **args}))
    for name, example, kwargs in tqdm(jobs, desc="masks", disable=not progress):
        variant_ratio = kwargs.pop("ratio", None)
        masker = make_masker(name, ratio if ratio is not None else variant_ratio, **kwargs)
        if example.progress is not None:
            masker.set_progress(example.progress)
        g = torch.Generator().manual_seed(seed)
        tokens = example_tokens(example, image, samples)
        scores = tokens.values.float().std(-1) if example.scores else None
        shown = image
        if getattr(masker, "corrupts_input", False):
            corrupted, mask = masker.corrupt(image.unsqueeze(0).expand(samples, -1, -1, -1).clone(), g)
            tiles = [mask_tile(corrupted[i].clamp(0, 1), mask.bool[i], example.grid) for i in range(samples)]
        else:
            mask = masker(tokens, g, scores=scores) if scores is not None else masker(tokens, g)
            tiles = [mask_tile(shown, mask.bool[i], example.grid) for i in range(samples)]
        spectrum = None
        if getattr(example, "spectrum", False):
            many = masker.sample(spectrum_draws, tuple(example.grid), g).bool.reshape(-1, *example.grid[-2:]).float()
            centred = many - many.mean((1, 2), keepdim=True)
            power2d = torch.fft.fftshift((torch.fft.fft2(centred).abs() ** 2).mean(0)).numpy()
            freq, radial = radial_power(many)
            hidden_fraction = float(many.mean())
            spectrum = (power2d, freq.numpy(), radial.numpy(), hidden_fraction * (1 - hidden_fraction))
        label = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        title = f"{name}" + (f" ({label})" if label else "") + f"\nratio {masker.ratio:g}, hidden {int(mask.bool[0].sum())}" \
            f"/{mask.bool.shape[1]}" + (f"\n{example.note}" if example.note else "")
        rows.append(GalleryRow(title, tiles, spectrum))
    return rows


def radial_plot(freq: np.ndarray, radial: np.ndarray, level: float, size: tuple[int, int]) -> Image.Image:
    """A small line plot of the radial power spectrum against random masks' flat level."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dpi = 100
    fig, ax = plt.subplots(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    ax.axhline(level, ls="--", lw=0.8, color="grey", label="random")
    ax.plot(freq, radial, "o-", ms=2, lw=1, color="tab:blue", label="masks")
    ax.set_xlabel("cycles / token", fontsize=6)
    ax.set_ylabel("power", fontsize=6)
    ax.tick_params(labelsize=5)
    ax.legend(fontsize=5, frameon=False)
    fig.tight_layout(pad=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def to_pil(x: np.ndarray, height: int) -> Image.Image:
    """HxWx3 float in [0,1] -> a PIL image `height` pixels high (nearest, so patches stay sharp)."""
    img = Image.fromarray((np.clip(x, 0, 1) * 255).round().astype(np.uint8))
    width = max(1, round(img.width * height / img.height))
    return img.resize((width, height), Image.Resampling.NEAREST)


def draw_gallery(rows: list[GalleryRow], path: str | Path, image: torch.Tensor | None = None, cell: int = 150,
                 pad: int = 8, label_width: int = 250) -> Path:
    """One PNG: a row per masker variant (label | image | sampled masks | spectrum when measured)."""
    font = ImageFont.load_default(size=12)
    head = 22
    tiles = [[to_pil(t, cell) for t in row.tiles] for row in rows]
    tile_w = max(t.width for r in tiles for t in r)
    n_tiles = max(len(r) for r in tiles)
    spectra = any(r.spectrum is not None for r in rows)
    lead = cell + pad if image is not None else 0
    width = label_width + lead + n_tiles * (tile_w + pad) + ((cell + pad + int(1.4 * cell) + pad) if spectra else 0)
    canvas = Image.new("RGB", (width, head + len(rows) * (cell + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    x0 = label_width
    if image is not None:
        draw.text((x0, 4), "image", fill="black", font=font)
        x0 += lead
    for i in range(n_tiles):
        draw.text((x0 + i * (tile_w + pad), 4), f"sample {i + 1}", fill="black", font=font)
    xs = x0 + n_tiles * (tile_w + pad)
    if spectra:
        draw.text((xs, 4), "mask power 2-D (log)", fill="black", font=font)
        draw.text((xs + cell + pad, 4), "radial power", fill="black", font=font)
    picture = to_pil(image.permute(1, 2, 0).numpy(), cell) if image is not None else None
    for r, row in enumerate(rows):
        y = head + r * (cell + pad)
        draw.multiline_text((pad, y + 4), wrap(row.title, 34), fill="black", font=font, spacing=3)
        if picture is not None:
            canvas.paste(picture, (label_width, y))
        for i, tile in enumerate(tiles[r]):
            canvas.paste(tile, (x0 + i * (tile_w + pad), y))
        if row.spectrum is not None:
            power2d, freq, radial, level = row.spectrum
            power2d = power2d.copy()
            centre = (power2d.shape[0] // 2, power2d.shape[1] // 2)
            power2d[centre] = np.median(power2d)  # DC is zero for zero-mean masks: keep it off the scale
            logp = np.log10(power2d + 1e-6)
            logp = (logp - logp.min()) / max(1e-9, float(logp.max() - logp.min()))
            canvas.paste(to_pil(np.repeat(logp[:, :, None], 3, axis=2), cell), (xs, y))
            canvas.paste(radial_plot(freq, radial, level, (int(1.4 * cell), cell)), (xs + cell + pad, y))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())
    return Path(path)


def wrap(text: str, width: int) -> str:
    """Wrap each line of `text` at `width` characters."""
    import textwrap
    return "\n".join(part for line in text.split("\n") for part in (textwrap.wrap(line, width) or [""]))


def mask_gallery(names: list[str], path: str | Path, image: torch.Tensor | None = None, ratio: float | None = None,
                 samples: int = 4, spatial: tuple[int, int] = (14, 14), seed: int = 0,
                 masker_args: dict | None = None, progress: bool = True) -> Path:
    """The whole gallery: `names` of registered maskers (or ["all"]) over `image` (default: a `shapes` image)."""
    if names == ["all"] or "all" in names:
        names = sorted(MASKERS)
    if image is None:
        image = shapes_image(16 * max(spatial))
    rows = gallery_rows(names, image, ratio, samples, spatial, seed, masker_args, progress=progress)
    return draw_gallery(rows, path, image)
