"""Built-in data sets (DESIGN.md): real images that scikit-learn / scikit-image ship, or generated.

Each loader returns a TensorImageDataset of one split at its native size (the model's transform
resizes). Nothing is downloaded.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
import torch

from ..registry import Registry
from .datasets import TensorImageDataset, check_split, stratified_split

BUILTIN = Registry("built-in data set")


def builtin(name: str):
    """Register a built-in data set loader `fn(split, image_size, seed) -> Dataset` (it names its modality)."""
    return BUILTIN.register(name)


def balanced_labels(count: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """[count] class ids, every class as often as the others (to one), in an order shuffled by `rng`."""
    labels = np.arange(count) % classes
    rng.shuffle(labels)
    return labels


def fixed_image_set(name: str, split: str, image_size, make: Callable, counts: tuple[int, int],
                    classes) -> TensorImageDataset:
    """A built-in set whose train and test images are fixed: `make(split, side, count)` -> (uint8 images
    [N,C,side,side], labels [N]); `counts` = (train, test); split "all" is both."""
    if split == "all":
        a, b = (fixed_image_set(name, s, image_size, make, counts, classes) for s in ("train", "test"))
        return TensorImageDataset(torch.cat([a.images, b.images]), torch.cat([a.labels, b.labels]),
                                  classes=a.classes, name=f"{name}:all")
    check_split(split)
    side = image_size if isinstance(image_size, int) else int(image_size[0])
    images, labels = make(split, side, counts[0] if split == "train" else counts[1])
    return TensorImageDataset(images, labels, classes=list(classes), name=f"{name}:{split}")


def _to_uint8(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8))


def _take(images: torch.Tensor, labels: torch.Tensor, split: str, test_fraction: float, name: str,
          classes=None) -> TensorImageDataset:
    check_split(split)
    if split != "all":
        train, test = stratified_split(labels, test_fraction, seed=0)
        idx = train if split == "train" else test
        images, labels = images[idx], labels[idx]
    return TensorImageDataset(images, labels, classes=classes, name=f"{name}:{split}")


@builtin("digits")
def digits(split: str = "train", image_size: int = 32, seed: int = 0) -> TensorImageDataset:
    """1,797 real hand-written digits (scikit-learn), 8x8 grey, 10 classes; 70/30 fixed split."""
    from sklearn.datasets import load_digits
    d = load_digits()
    images = _to_uint8(d.images[:, None] / 16.0)
    return _take(images, torch.as_tensor(d.target), split, 0.3, "digits", [str(i) for i in range(10)])


@builtin("faces")
def faces(split: str = "train", image_size: int = 32, seed: int = 0) -> TensorImageDataset:
    """200 real 25x25 grey patches (scikit-image `lfw_subset`): 100 faces, 100 not; 70/30 split."""
    from skimage.data import lfw_subset
    images = _to_uint8(lfw_subset()[:, None].astype(np.float64))
    labels = torch.tensor([0] * 100 + [1] * 100)
    return _take(images, labels, split, 0.3, "faces", ["face", "not-face"])


PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
          "camera", "coins", "moon", "brick", "grass", "gravel", "clock", "cell", "page", "text", "horse")


@lru_cache(maxsize=1)
def photos() -> tuple:
    """The real photographs scikit-image ships, as RGB PIL images."""
    import skimage.data
    from PIL import Image
    out = []
    for name in PHOTOS:
        img = np.asarray(getattr(skimage.data, name)())
        if img.dtype != np.uint8:
            img = np.round(img / max(img.max(), 1e-12) * 255).astype(np.uint8)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        out.append(Image.fromarray(np.ascontiguousarray(img[..., :3])))
    return tuple(out)


def photo_crops(count: int, size: int, rng: np.random.Generator, min_frac: float = 0.15,
                max_frac: float = 0.6) -> np.ndarray:
    """`count` random square crops of the photos, resized to size x size: [count,3,size,size]."""
    from PIL import Image
    pics = photos()
    out = np.empty((count, 3, size, size), dtype=np.float64)
    for i in range(count):
        img = pics[rng.integers(len(pics))]
        w, h = img.size
        side = int(min(h, w) * rng.uniform(min_frac, max_frac))
        top, left = rng.integers(h - side + 1), rng.integers(w - side + 1)
        crop = img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side),
                          reducing_gap=2.0)
        arr = np.asarray(crop, dtype=np.float64) / 255.0
        if rng.random() < 0.5:
            arr = arr[:, ::-1]
        out[i] = arr.transpose(2, 0, 1)
    return out


def region_box(w: int, h: int, region: tuple[float, float], side_frac: float,
               rng: np.random.Generator) -> tuple[int, int, int]:
    """A random square (left, top, side) inside a w x h photo, `side_frac` of its shorter side, lying within
    `region` (start, end as fractions of its longer side)."""
    long, short = max(w, h), min(w, h)
    lo, hi = int(region[0] * long), int(region[1] * long)
    side = min(int(short * side_frac), hi - lo)
    along, across = int(rng.integers(lo, hi - side + 1)), int(rng.integers(short - side + 1))
    return (along, across, side) if w >= h else (across, along, side)


def region_crops(labels: np.ndarray, size: int, rng: np.random.Generator, region: tuple[float, float],
                 min_frac: float = 0.1, max_frac: float = 0.25) -> np.ndarray:
    """A square crop of photo `labels[i]` for each i, resized to size x size: [N,3,size,size]. Crops lie in
    `region` (start, end as fractions of the photo's longer side); sides are `min_frac`-`max_frac` of its
    shorter side; half are mirrored."""
    from PIL import Image
    pics = photos()
    out = np.empty((len(labels), 3, size, size), dtype=np.float64)
    for i, label in enumerate(labels):
        img = pics[label]
        left, top, side = region_box(*img.size, region, rng.uniform(min_frac, max_frac), rng)
        crop = img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side),
                          reducing_gap=2.0)
        arr = np.asarray(crop, dtype=np.float64) / 255.0
        out[i] = (arr[:, ::-1] if rng.random() < 0.5 else arr).transpose(2, 0, 1)
    return out


@lru_cache(maxsize=8)
def _photo_crops_split(split: str, side: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng({"train": 21, "test": 22}[split])
    labels = balanced_labels(count, len(PHOTOS), rng)
    region = (0.0, 0.7) if split == "train" else (0.7, 1.0)
    return _to_uint8(region_crops(labels, side, rng, region)), torch.as_tensor(labels)


@builtin("photo-crops")
def photo_crops_labelled(split: str = "train", image_size: int = 32, seed: int = 0, train_count: int = 1800,
                         test_count: int = 900) -> TensorImageDataset:
    """Which of scikit-image's 18 photographs a small crop comes from (18 classes: textures, scenes, a
    page of text, a cat...). Train crops come from the first 70% of each photo's longer side, test crops
    from the last 30%, so no pixel is in both splits; sides 10-25% of the photo's shorter side, half
    mirrored; fixed sets."""
    return fixed_image_set("photo-crops", split, image_size, _photo_crops_split, (train_count, test_count), PHOTOS)


@builtin("textures")
def textures(split: str = "train", image_size: int = 32, seed: int = 0, count: int = 2000) -> TensorImageDataset:
    """Random crops of the real photographs that scikit-image ships; unlabelled."""
    rng = np.random.default_rng({"train": 1, "test": 2, "all": 3}[split] + 1000 * seed)
    side = image_size if isinstance(image_size, int) else int(image_size[0])
    images = _to_uint8(photo_crops(count if split != "test" else count // 4, side, rng))
    return TensorImageDataset(images, None, name=f"textures:{split}")


# Shapes: outlines as functions of (u, v) in the shape's own frame, radius ~1.
def _polygon(sides: int, star: bool = False) -> Callable:
    def inside(u, v):
        angle = np.arctan2(v, u)
        r = np.hypot(u, v)
        sector = 2 * np.pi / sides
        a = np.mod(angle, sector) - sector / 2
        edge = np.cos(sector / 2) / np.cos(a)  # regular polygon boundary
        if star:
            t = np.abs(np.mod(angle, sector) - sector / 2) / (sector / 2)  # 0 at tip, 1 between tips
            edge = 1.0 - 0.55 * t
        return r <= edge
    return inside


SHAPES: dict[str, Callable] = {
    "circle": lambda u, v: np.hypot(u, v) <= 0.9,
    "ring": lambda u, v: (np.hypot(u, v) <= 0.95) & (np.hypot(u, v) >= 0.55),
    "triangle": _polygon(3),
    "square": _polygon(4),
    "pentagon": _polygon(5),
    "hexagon": _polygon(6),
    "star": _polygon(5, star=True),
    "cross": lambda u, v: ((np.abs(u) <= 0.3) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 0.95)),
    "crescent": lambda u, v: (np.hypot(u, v) <= 0.9) & (np.hypot(u - 0.45, v) > 0.7),
    "arrow": lambda u, v: ((np.abs(v) <= 0.22) & (u >= -0.95) & (u <= 0.15))
    | ((u > 0.1) & (u <= 0.95) & (np.abs(v) <= 0.85 * (0.95 - u))),
}


def render_shapes(labels: np.ndarray, size: int, rng: np.random.Generator, supersample: int = 4,
                  maps: bool = False, attributes: list | None = None):
    """One shape per label over a textured photo background: [N,3,size,size] in [0,1].

    Nuisances drawn per image: colour, size (35-80% of the image), position, rotation, background.
    `maps=True` also returns each shape's coverage (alpha) map [N,size,size] in [0,1] (same draws).
    `attributes`, a list, receives each image's drawn {radius, cx, cy, colour} (same draws; captions).
    """
    n = len(labels)
    background = photo_crops(n, size, rng)
    names = list(SHAPES)
    s = size * supersample
    grid = ((np.arange(s) + 0.5) / s * 2 - 1).astype(np.float32)  # [-1,1]
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    out = np.empty((n, 3, size, size))
    alphas = np.empty((n, size, size))
    for i, label in enumerate(labels):
        radius = rng.uniform(0.35, 0.8)
        cx, cy = rng.uniform(-1 + radius, 1 - radius, size=2)
        theta = rng.uniform(0, 2 * np.pi)
        du, dv = (xx - cx) / radius, (yy - cy) / radius
        u = np.cos(theta) * du + np.sin(theta) * dv
        v = -np.sin(theta) * du + np.cos(theta) * dv
        alpha = SHAPES[names[label]](u, v).astype(np.float64)
        alpha = alpha.reshape(size, supersample, size, supersample).mean(axis=(1, 3))
        colour = rng.uniform(0, 1, size=3)
        colour[rng.integers(3)] = rng.choice([0.05, 0.95])  # keep colours saturated enough to see
        bg = background[i] * rng.uniform(0.4, 0.8) + rng.uniform(0.0, 0.2)
        out[i] = bg * (1 - alpha) + colour[:, None, None] * alpha
        if attributes is not None:
            attributes.append({"radius": radius, "cx": cx, "cy": cy, "colour": colour.copy()})
        alphas[i] = alpha
    return (np.clip(out, 0, 1), alphas) if maps else np.clip(out, 0, 1)


@lru_cache(maxsize=8)
def _shapes_split(split: str, image_size: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng({"train": 11, "test": 12}[split])
    labels = balanced_labels(count, len(SHAPES), rng)
    return _to_uint8(render_shapes(labels, image_size, rng)), torch.as_tensor(labels)


@builtin("shapes")
def shapes(split: str = "train", image_size: int = 32, seed: int = 0, train_count: int = 2000,
           test_count: int = 1000) -> TensorImageDataset:
    """Procedural labelled shapes (10 classes) with random colour, size, position, rotation and a
    textured photo background; rendered at `image_size`; fixed train/test sets."""
    return fixed_image_set("shapes", split, image_size, _shapes_split, (train_count, test_count), SHAPES)
