"""Samples made of several named arrays (MultiMAE row 50, BM-MAE row 15): RGB + depth + segmentation,
or spectral pixels + their bands. Aligned crops, per-modality normalisation, built-in sets, folders."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .builtin import SHAPES, _to_uint8, balanced_labels, builtin, render_shapes
from .modality import Modality, register_modality
from .datasets import SeededSamples
from .transforms import crop_box, resize

PASSTHROUGH = ("bands", "channels", "band_mask")  # per-sample metadata, not pixels: never cropped or normalised


def as_sample(value: Tensor) -> Tensor:
    """Stored array -> model-ready: uint8 images to float [0,1], integer maps to long, floats as they are."""
    if value.dtype == torch.uint8:
        return value.float() / 255.0
    if not value.is_floating_point():
        return value.long()
    return value.float()


class DictDataset(SeededSamples):
    """In-memory samples {name: [N,...]} with labels [N] (-1 when unlabelled) and a seeded transform.

    Items are ({name: tensor}, label, index); `EpochSampler` indices `epoch * N + i` carry the epoch.
    """

    def __init__(self, arrays: dict[str, Tensor], labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "data", modality: str = "multimodal"):
        sizes = {k: len(v) for k, v in arrays.items()}
        if not arrays or len(set(sizes.values())) != 1:
            raise ValueError(f"{name}: every modality needs the same number of samples, got {sizes}")
        super().__init__(next(iter(sizes.values())), labels, transform, seed, classes, name)
        self.arrays, self.modality = arrays, modality
        self.files: list[str] | None = None

    @property
    def names(self) -> list[str]:
        return list(self.arrays)

    @property
    def channels(self) -> int:
        """Channels of the first pixel array (bands for spectral samples)."""
        first = self.arrays["pixels"] if "pixels" in self.arrays else next(iter(self.arrays.values()))
        return int(first.shape[1]) if first.ndim == 4 else 1

    def __len__(self) -> int:
        return len(self.labels)

    def pixels(self, index: int) -> dict[str, Tensor]:
        return {k: as_sample(v[index]) for k, v in self.arrays.items()}

    def with_transform(self, transform, seed: int | None = None) -> "DictDataset":
        copy = DictDataset(self.arrays, self.labels, transform, self.seed if seed is None else seed, self.classes,
                           self.name, self.modality)
        copy.skipped, copy.files = self.skipped, self.files
        return copy


def resize_map(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Class map [H,W] (long) -> [size] by nearest neighbour."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x[None, None].float(), size=size, mode="nearest")[0, 0].long()


class PerModalityNormalisation:
    """Per-modality statistics {name: (mean [C,1,1], std [C,1,1])} and their inverse, for transforms of
    samples that are dicts of modalities."""

    def __init__(self, stats: dict):
        self.stats = {k: (torch.as_tensor(m, dtype=torch.float32).view(-1, 1, 1),
                          torch.as_tensor(s, dtype=torch.float32).view(-1, 1, 1)) for k, (m, s) in stats.items()}

    def invert(self, name: str, x: Tensor) -> Tensor:
        """Normalised [...,C,H,W] of modality `name` -> original units."""
        if name not in self.stats:
            return x
        mean, std = self.stats[name]
        return x * std.to(x) + mean.to(x)


class MultiModalTransform(PerModalityNormalisation):
    """One aligned random resized crop (+ flip) for every modality of a sample, then per-modality
    normalisation; class maps are resized by nearest neighbour and never normalised.

    stats: {name: (mean [C], std [C])}; `augment=False` only resizes and normalises (probes, pictures).
    """

    def __init__(self, size: tuple[int, int], stats: dict, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3),
                 flip: bool = True, augment: bool = True):
        super().__init__(stats)
        self.size, self.scale, self.ratio, self.flip, self.augment = tuple(size), tuple(scale), ratio, flip, augment

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        spatial = {k: v for k, v in sample.items() if k not in PASSTHROUGH}
        h, w = next(iter(spatial.values())).shape[-2:]
        top, left, ch, cw, flip = 0, 0, h, w, False
        if self.augment and generator is not None:
            top, left, ch, cw = crop_box(h, w, self.scale, self.ratio, generator)
            flip = self.flip and torch.rand(1, generator=generator).item() < 0.5
        out = {}
        for name, x in sample.items():
            if name in PASSTHROUGH:
                out[name] = x
                continue
            if tuple(x.shape[-2:]) != (h, w):
                raise ValueError(f"modality {name!r} is {tuple(x.shape[-2:])}, the others {(h, w)}: not aligned")
            x = x[..., top:top + ch, left:left + cw]
            x = resize_map(x, self.size) if not x.is_floating_point() else resize(x, self.size)
            if flip:
                x = x.flip(-1)
            if name in self.stats:
                mean, std = self.stats[name]
                x = (x - mean) / std
            out[name] = x
        return out


def modality_stats(dataset: DictDataset, max_samples: int = 2000) -> tuple[dict, dict]:
    """Per-channel mean/std of every floating-point modality: ({name: [C]}, {name: [C]})."""
    means, stds = {}, {}
    for name, arr in dataset.arrays.items():
        if name in PASSTHROUGH or not (arr.dtype == torch.uint8 or arr.is_floating_point()):
            continue
        x = as_sample(arr[:max_samples])
        x = x.unsqueeze(1) if x.ndim == 3 else x
        dims = (0,) + tuple(range(2, x.ndim))
        means[name] = [round(float(v), 5) for v in x.mean(dims)]
        stds[name] = [round(float(v), 5) for v in x.std(dims).clamp_min(1e-3)]
    return means, stds


@register_modality
class MultiModalModality(Modality):
    """Dict samples {rgb [3,H,W], depth [1,H,W], semseg [H,W]} for MultiMAE-style models."""

    name = "multimodal"

    def sample_size(self, model, config):
        return model.tokenizer.image_size

    def stats(self, dataset):
        return modality_stats(dataset)

    def pretrain_transform(self, model, config):
        return MultiModalTransform(model.tokenizer.image_size, self._stats(config), scale=tuple(config.crop_scale))

    def eval_transform(self, model, config):
        return MultiModalTransform(model.tokenizer.image_size, self._stats(config), augment=False)

    @staticmethod
    def _stats(config) -> dict:
        mean, std = config.mean or {}, config.std or {}
        return {k: (mean[k], std[k]) for k in mean}


# ---------------------------------------------------------------- built-in multi-modal data
def shapes_depth(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """alpha [N,H,W] -> depth [N,H,W] in [0,1]: a gently tilted far background plane and a nearer shape
    whose distance falls with its apparent size (bigger shapes are closer), with a slight dome."""
    n, h, w = alpha.shape
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    tilt = rng.uniform(-0.08, 0.08, size=(n, 2))
    background = 0.8 + tilt[:, :1, None] * xx + tilt[:, 1:, None] * yy
    area = alpha.reshape(n, -1).mean(1)
    near = np.clip(0.55 - 1.0 * area, 0.1, 0.5)[:, None, None]
    dome = 0.05 * (1 - alpha)  # edges a little farther than the centre of thick shapes
    shape = near + dome * (alpha > 0)
    return background * (1 - alpha) + shape * alpha


@lru_cache(maxsize=4)
def _shapes_multimodal_split(split: str, image_size: int, count: int):
    rng = np.random.default_rng({"train": 21, "test": 22}[split])
    labels = balanced_labels(count, len(SHAPES), rng)
    images, alpha = render_shapes(labels, image_size, rng, maps=True)
    depth = shapes_depth(alpha, rng)
    semseg = np.where(alpha >= 0.5, labels[:, None, None] + 1, 0)
    return (_to_uint8(images), torch.from_numpy(depth[:, None]).float(), torch.from_numpy(semseg).to(torch.int64),
            torch.as_tensor(labels))


@builtin("shapes-multimodal")
def shapes_multimodal(split: str = "train", image_size=32, seed: int = 0, train_count: int = 2000,
                      test_count: int = 500) -> DictDataset:
    """`shapes` with a depth map (far tilted background, nearer shape) and a segmentation (0 background,
    1 + shape class) per image: every modality has ground truth. Labelled (10 classes), fixed split."""
    if split not in ("train", "test"):
        raise ValueError(f"shapes-multimodal has train and test splits, got {split!r}")
    side = image_size if isinstance(image_size, int) else int(image_size[0])
    rgb, depth, semseg, labels = _shapes_multimodal_split(split, side, train_count if split == "train" else test_count)
    return DictDataset({"rgb": rgb, "depth": depth, "semseg": semseg}, labels, classes=list(SHAPES),
                       name=f"shapes-multimodal:{split}")


@builtin("shapes-multimodal-rgb")
def shapes_multimodal_rgb(split: str = "train", image_size=32, seed: int = 0) -> DictDataset:
    """`shapes-multimodal` with its RGB only: probes what a multi-modal encoder gives from RGB alone."""
    data = shapes_multimodal(split, image_size, seed)
    return DictDataset({"rgb": data.arrays["rgb"]}, data.labels, classes=data.classes,
                       name=f"shapes-multimodal-rgb:{split}")


@lru_cache(maxsize=1)
def stereo_scene() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's real stereo pair: left RGB [H,W,3] in [0,1] and disparity [H,W] scaled to (0,1],
    invalid (infinite) disparities filled from the nearest valid pixel."""
    from scipy import ndimage
    from skimage.data import stereo_motorcycle
    left, _, disparity = stereo_motorcycle()
    valid = np.isfinite(disparity) & (disparity > 0)
    _, (iy, ix) = ndimage.distance_transform_edt(~valid, return_indices=True)
    disparity = disparity[iy, ix]
    return left.astype(np.float64) / 255.0, (disparity / disparity.max()).astype(np.float64)


@lru_cache(maxsize=4)
def _stereo_split(split: str, cache: int, count: int):
    from PIL import Image
    left, disparity = stereo_scene()
    h, w = disparity.shape
    cut = int(w * 0.7)                 # train crops from the left 70% of the scene, test from the rest
    x0, x1 = (0, cut) if split == "train" else (cut, w)
    rng = np.random.default_rng({"train": 31, "test": 32}[split])
    rgb_img = Image.fromarray((left * 255).round().astype(np.uint8))
    disp_img = Image.fromarray(disparity.astype(np.float32), mode="F")
    rgb = np.empty((count, 3, cache, cache), dtype=np.uint8)
    depth = np.empty((count, 1, cache, cache), dtype=np.float32)
    for i in range(count):
        side = int(rng.integers(80, min(200, x1 - x0) + 1))
        top, left_edge = int(rng.integers(0, h - side + 1)), int(rng.integers(x0, x1 - side + 1))
        box = (left_edge, top, left_edge + side, top + side)
        rgb[i] = np.asarray(rgb_img.resize((cache, cache), Image.Resampling.BILINEAR, box=box)).transpose(2, 0, 1)
        depth[i, 0] = np.asarray(disp_img.resize((cache, cache), Image.Resampling.BILINEAR, box=box))
    return torch.from_numpy(rgb), torch.from_numpy(depth)


@builtin("stereo-depth")
def stereo_depth(split: str = "train", image_size=32, seed: int = 0, train_count: int = 1200,
                 test_count: int = 300) -> DictDataset:
    """The real stereo scene scikit-image ships (`stereo_motorcycle`): random aligned crops of the left
    RGB view and its disparity (inverse depth, scaled to [0,1]) as `depth`. Train crops come from the
    left 70% of the scene, test crops from the right 30%. Unlabelled."""
    if split not in ("train", "test"):
        raise ValueError(f"stereo-depth has train and test splits, got {split!r}")
    side = image_size if isinstance(image_size, int) else int(image_size[0])
    rgb, depth = _stereo_split(split, 2 * side, train_count if split == "train" else test_count)
    return DictDataset({"rgb": rgb, "depth": depth}, None, name=f"stereo-depth:{split}")


# ---------------------------------------------------------------- user folders: one sub-folder per modality
MODALITY_SUFFIXES = {".npy", ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp"}


def modality_folders(root: Path) -> dict[str, dict[str, Path]] | None:
    """root/<modality>/<name>.<ext> with the same names in every sub-folder -> {modality: {stem: path}};
    None when the layout is not that (e.g. class sub-folders with different file names)."""
    subs = sorted(p for p in root.iterdir() if p.is_dir())
    if len(subs) < 1:
        return None
    found = {}
    for sub in subs:
        files = {p.stem: p for p in sorted(sub.iterdir()) if p.is_file() and p.suffix.lower() in MODALITY_SUFFIXES}
        if files:
            found[sub.name] = files
    if not found:
        return None
    stems = [set(f) for f in found.values()]
    if len(found) > 1 and not all(s == stems[0] for s in stems):
        return None
    return found


def read_modality_file(path: Path, name: str) -> Tensor:
    """One file of modality `name` -> rgb [3,H,W] / depth [1,H,W] float, semseg [H,W] long."""
    from .arrays import read_array
    from .folder import read_image
    if name == "semseg":
        if path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            from PIL import Image
            with Image.open(path) as img:
                arr = np.asarray(img)
        arr = np.squeeze(arr)
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{path}: a segmentation must be a 2-D integer array, got {arr.dtype} {arr.shape}")
        return torch.from_numpy(arr.astype(np.int64))
    if path.suffix.lower() in (".npy", ".tif", ".tiff"):
        arr = read_array(path, channels=3 if name == "rgb" else 1)
    else:
        arr = read_image(path, 3 if name == "rgb" else 1)
    return torch.from_numpy(np.ascontiguousarray(arr)).float()


def load_modality_folder(root: str | Path, image_size=32, channels: int | None = None, split: str = "all",
                         names: list[str] | None = None) -> DictDataset:
    """root/rgb/a.png, root/depth/a.npy, root/semseg/a.png, ... -> a DictDataset of the matching samples,
    each modality resized to twice the model size (class maps by nearest neighbour)."""
    root = Path(root)
    found = modality_folders(root)
    if found is None:
        raise ValueError(f"{root}: expected one sub-folder per modality (e.g. rgb/, depth/, semseg/) holding "
                         f"files with the same names")
    if names:
        found = {k: v for k, v in found.items() if k in names}
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    cache = (2 * size[0], 2 * size[1])
    stems = sorted(next(iter(found.values())))
    arrays: dict[str, list] = {k: [] for k in found}
    skipped = []
    for stem in stems:
        try:
            sample = {k: read_modality_file(found[k][stem], k) for k in found}
        except (ValueError, OSError) as err:
            skipped.append(f"{stem}: {err}")
            continue
        shapes = {k: tuple(v.shape[-2:]) for k, v in sample.items()}
        if len(set(shapes.values())) != 1:
            skipped.append(f"{stem}: modalities differ in size {shapes}")
            continue
        for k, v in sample.items():
            arrays[k].append(resize_map(v, cache) if not v.is_floating_point() else resize(v, cache))
    from .datasets import report_skipped
    for s in skipped:
        report_skipped(s, s, stacklevel=2)
    if not arrays or not next(iter(arrays.values())):
        raise ValueError(f"{root}: no readable multi-modal samples")
    data = DictDataset({k: torch.stack(v) for k, v in arrays.items()}, None, name=str(root))
    data.skipped = skipped
    data.files = [s for s in stems if not any(x.startswith(f"{s}:") for x in skipped)]
    return data
