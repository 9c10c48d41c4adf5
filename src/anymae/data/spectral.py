"""Spectral images from different sensors (SMARTIES, row 3): `shapes` rendered with per-material
reflectance curves and integrated over a sensor's bands, so one scene can be seen by a 13-band
Sentinel-2-like sensor and by a different 4-band sensor. Labels: the material of the shape."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .builtin import SHAPES, balanced_labels, builtin, render_shapes
from .modality import Modality, register_modality
from .multimodal import DictDataset, MultiModalTransform

# (centre nm, width nm)
SENTINEL2_LIKE = [(443, 20), (490, 65), (560, 35), (665, 30), (705, 15), (740, 15), (783, 20), (842, 115),
                  (865, 20), (945, 20), (1375, 30), (1610, 90), (2190, 180)]
FOUR_BAND = [(475, 70), (555, 80), (650, 60), (810, 100)]   # a PlanetScope/NAIP-like B, G, R, NIR sensor
SENSORS = {"sentinel2": SENTINEL2_LIKE, "4band": FOUR_BAND}
WAVELENGTHS = np.arange(400.0, 2501.0)


def _bump(centre: float, width: float, height: float) -> np.ndarray:
    return height * np.exp(-0.5 * ((WAVELENGTHS - centre) / width) ** 2)


def _edge(at: float, steep: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(WAVELENGTHS - at) / steep))


def material_curves() -> dict[str, np.ndarray]:
    """Reflectance in [0,1] at 400..2500 nm for a few surfaces (smooth caricatures of real spectra)."""
    water_dips = 1 - _bump(1450, 60, 0.6) - _bump(1940, 80, 0.7)
    curves = {
        "vegetation": (0.04 + _bump(550, 30, 0.06) + 0.45 * _edge(715, 12) * (1 - 0.5 * _edge(1300, 80))) * water_dips,
        "soil": (0.08 + 0.3 * (WAVELENGTHS - 400) / 2100) * (1 - _bump(1940, 80, 0.3)),
        "water": 0.02 + _bump(450, 60, 0.08) * (1 - _edge(650, 30)),
        "concrete": 0.25 + 0.1 * _edge(900, 200) - _bump(2200, 60, 0.05),
        "snow": 0.9 * (1 - _edge(1200, 120)) + 0.1 - _bump(1500, 80, 0.05),
        "red paint": 0.05 + 0.6 * _edge(600, 15) * (1 - 0.4 * _edge(1500, 300)),
        "blue paint": 0.05 + _bump(460, 40, 0.5) + 0.3 * _edge(800, 40),
        "white paint": 0.75 - 0.3 * _edge(1700, 300),
    }
    return {k: np.clip(v, 0.0, 1.0) for k, v in curves.items()}


def band_values(curves: np.ndarray, bands) -> np.ndarray:
    """curves [M,L] on WAVELENGTHS -> band reflectances [M,C] (mean over each band's box response)."""
    out = np.empty((curves.shape[0], len(bands)))
    for c, (centre, width) in enumerate(bands):
        inside = np.abs(WAVELENGTHS - centre) <= width / 2
        out[:, c] = curves[:, inside].mean(1)
    return out


BACKGROUNDS = ("vegetation", "soil", "water", "concrete")


@lru_cache(maxsize=4)
def _scenes(split: str, image_size: int, count: int):
    """The sensor-independent part of each scene: shape coverage, texture, materials, illumination."""
    rng = np.random.default_rng({"train": 51, "test": 52}[split])
    labels = balanced_labels(count, len(SHAPES), rng)
    rgb, alpha = render_shapes(labels, image_size, rng, maps=True)
    texture = 0.6 + 0.8 * rgb.mean(1)                                     # [N,H,W] from the photo background
    names = list(material_curves())
    shape_material = rng.integers(len(names), size=count)                 # nuisance, independent of the class
    background_material = rng.choice([names.index(b) for b in BACKGROUNDS], size=count)
    illumination = rng.uniform(0.7, 1.1, size=count)
    return labels, alpha, texture, shape_material, background_material, illumination


def render_spectral(split: str, image_size: int, count: int, bands) -> tuple[np.ndarray, np.ndarray]:
    """-> (images [N,C,H,W] reflectance, labels [N] = the shape's material) for the sensor with `bands`."""
    _, alpha, texture, shape_m, back_m, illum = _scenes(split, image_size, count)
    values = band_values(np.stack(list(material_curves().values())), bands)   # [M,C]
    shape_v, back_v = values[shape_m][:, :, None, None], values[back_m][:, :, None, None]
    a = alpha[:, None]
    images = (back_v * texture[:, None] * (1 - a) + shape_v * a) * illum[:, None, None, None]
    return images.astype(np.float32), shape_m


def spectral_dataset(split: str, image_size, sensor: str, train_count: int, test_count: int) -> DictDataset:
    if split not in ("train", "test"):
        raise ValueError(f"spectral data has train and test splits, got {split!r}")
    side = image_size if isinstance(image_size, int) else int(image_size[0])
    bands = SENSORS[sensor]
    images, labels = render_spectral(split, side, train_count if split == "train" else test_count, tuple(bands))
    band_table = torch.tensor(bands, dtype=torch.float32).expand(len(images), -1, -1).clone()
    return DictDataset({"pixels": torch.from_numpy(images), "bands": band_table}, torch.as_tensor(labels),
                       classes=list(material_curves()), name=f"spectral-shapes-{sensor}:{split}", modality="spectral")


@builtin("spectral-shapes")
def spectral_shapes(split: str = "train", image_size=32, seed: int = 0, train_count: int = 2000,
                    test_count: int = 500) -> DictDataset:
    """`shapes` seen by a 13-band Sentinel-2-like sensor (443-2190 nm): shape and background materials
    with their own reflectance curves. The label is the shape's material (8 classes, a spectral task as
    land cover is); shape class, size, position, background material, texture and illumination vary."""
    return spectral_dataset(split, image_size, "sentinel2", train_count, test_count)


@builtin("spectral-shapes-4band")
def spectral_shapes_4band(split: str = "train", image_size=32, seed: int = 0, train_count: int = 2000,
                          test_count: int = 500) -> DictDataset:
    """The same scenes as `spectral-shapes` seen by a different 4-band sensor (blue, green, red, NIR)."""
    return spectral_dataset(split, image_size, "4band", train_count, test_count)


class SpectralTransform(MultiModalTransform):
    """Aligned crop + flip + one normalisation for all bands; with `subsets` > 0, that fraction of samples
    shows the encoder only a random subset of its bands (at least `min_bands`), as another sensor would,
    while the targets keep every band: `band_mask` [C] (1 = seen) is added to every sample."""

    def __init__(self, size, stats, subsets: float = 0.0, min_bands: int = 3, mixup: float = 0.0,
                 tokens: int = 0, **kw):
        super().__init__(size, stats, **kw)
        self.subsets, self.min_bands = subsets, min_bands
        self.mixup, self.tokens = mixup, tokens

    def sensor_mixup(self, bands: int, generator: torch.Generator) -> dict:
        """SMARTIES' cross-sensor token mixup, drawn per sample: two sensors (random band sets of at least
        `min_bands`, different from each other) -> `sensor_masks` [2,C] (1 = seen), and `sensor_map` [N]
        (1 at round(N * mixup) random positions: the tokens taken from the second sensor)."""
        def one_sensor():
            k = int(torch.randint(min(self.min_bands, bands), bands + 1, (1,), generator=generator))
            mask = torch.zeros(bands)
            mask[torch.randperm(bands, generator=generator)[:k]] = 1.0
            return mask
        first = one_sensor()
        second = one_sensor()
        while bands > 1 and torch.equal(first, second):
            second = one_sensor()
        where = torch.zeros(self.tokens, dtype=torch.long)
        where[torch.randperm(self.tokens, generator=generator)[:round(self.tokens * self.mixup)]] = 1
        return {"sensor_masks": torch.stack([first, second]), "sensor_map": where}

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        out = super().__call__(sample, generator)
        if self.mixup > 0 and generator is not None:
            out.update(self.sensor_mixup(out["pixels"].shape[0], generator))
            return out
        if self.subsets > 0 and generator is not None:
            c = out["pixels"].shape[0]
            mask = torch.ones(c)
            if torch.rand(1, generator=generator).item() < self.subsets and c > self.min_bands:
                k = int(torch.randint(self.min_bands, c, (1,), generator=generator))
                mask = torch.zeros(c)
                mask[torch.randperm(c, generator=generator)[:k]] = 1.0
            out["band_mask"] = mask
        return out


@register_modality
class SpectralModality(Modality):
    """Samples {"pixels": [C,H,W], "bands": [C,2]}: one normalisation for all bands (so any sensor fits),
    aligned crops."""

    name = "spectral"

    def sample_size(self, model, config):
        return model.tokenizer.image_size

    def stats(self, dataset):
        x = dataset.arrays["pixels"][:2000].float()
        return {"pixels": [round(float(x.mean()), 5)]}, {"pixels": [round(float(x.std().clamp_min(1e-3)), 5)]}

    band_subsets = 0.5   # fraction of pretraining samples seen through a random subset of their bands

    def pretrain_transform(self, model, config):
        tok = model.tokenizer   # mixup: SMARTIES' cross-sensor token mixup, when the tokenizer asks for it
        return SpectralTransform(tok.image_size, {"pixels": (config.mean["pixels"], config.std["pixels"])},
                                 subsets=self.band_subsets, scale=tuple(config.crop_scale),
                                 mixup=getattr(tok, "mixup", 0.0), tokens=tok.num_tokens)

    def eval_transform(self, model, config):
        return MultiModalTransform(model.tokenizer.image_size, {"pixels": (config.mean["pixels"], config.std["pixels"])},
                                   augment=False)
