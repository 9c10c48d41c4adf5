"""Anomaly-detection data in MVTec AD's manner (Bergmann et al.): normal training images only; a test split of
normal and defective images with a pixel mask of each defect.

- `textures-defects` (built in): crops of the texture photographs scikit-image ships (brick, grass,
  gravel); the test split adds scratches, holes, stains and colour shifts, each with its mask.
- A folder in MVTec's layout: `train/good/*`, `test/<defect>/*` (`test/good` normal), and
  `ground_truth/<defect>/<name>_mask.png`.

Test sets carry `labels` (0 good, 1 defective), `masks` [N,H,W] uint8 (1 = defect; 255 everywhere when a
defective image has no mask file) and `kinds` (the defect name of each image, "good" for normal ones).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .builtin import _to_uint8, builtin
from .datasets import TensorImageDataset, check_split
from .folder import IMAGE_SUFFIXES, read_image

TEXTURES = ("brick", "grass", "gravel")
DEFECTS = ("scratch", "hole", "stain", "colour")


def texture_crops(count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random crops (a fifth to a half of the photo's side) of the texture photos: [count,3,size,size]."""
    import skimage.data
    from PIL import Image
    photos = []
    for name in TEXTURES:
        img = np.asarray(getattr(skimage.data, name)())
        img = np.round(img / max(img.max(), 1) * 255).astype(np.uint8) if img.dtype != np.uint8 else img
        photos.append(Image.fromarray(np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3]))
    out = np.empty((count, 3, size, size))
    for i in range(count):
        img = photos[i % len(photos)]
        w, h = img.size
        side = int(min(w, h) * rng.uniform(0.2, 0.5))
        top, left = rng.integers(h - side + 1), rng.integers(w - side + 1)
        crop = img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side))
        out[i] = np.asarray(crop, dtype=np.float64).transpose(2, 0, 1) / 255.0
    return out


def blob(size: int, rng: np.random.Generator, radius: tuple[float, float]) -> np.ndarray:
    """A random irregular region [size,size] in [0,1]: an ellipse with a wobbly edge, soft by one pixel."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    cy, cx = rng.uniform(0.25, 0.75, 2) * size
    ry, rx = rng.uniform(*radius, 2) * size
    angle = np.arctan2(yy - cy, xx - cx)
    wobble = 1 + 0.25 * np.sin(3 * angle + rng.uniform(0, 6.3)) * rng.uniform(0.3, 1)
    r = np.hypot((yy - cy) / ry, (xx - cx) / rx) / wobble
    return np.clip((1 - r) * min(ry, rx), 0, 1)


def scratch(size: int, rng: np.random.Generator) -> np.ndarray:
    """A thin straight or slightly curved line across a good part of the image: alpha [size,size]."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    y0, x0 = rng.uniform(0.2, 0.8, 2) * size
    theta = rng.uniform(0, np.pi)
    length = rng.uniform(0.3, 0.6) * size
    u = (xx - x0) * np.cos(theta) + (yy - y0) * np.sin(theta)
    v = -(xx - x0) * np.sin(theta) + (yy - y0) * np.cos(theta) - 0.01 * rng.uniform(-1, 1) * u ** 2
    width = rng.uniform(0.6, 1.2) * size / 64
    return np.clip(width + 0.5 - np.abs(v), 0, 1) * (np.abs(u) <= length / 2)


def add_defect(image: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """image [3,H,W] in [0,1] -> (defective image, mask [H,W] bool) for one of DEFECTS."""
    size = image.shape[-1]
    if kind == "scratch":
        alpha, colour = scratch(size, rng), rng.choice([0.05, 0.95]) * np.ones(3)
    elif kind == "hole":
        alpha, colour = blob(size, rng, (0.06, 0.12)), rng.uniform(0.0, 0.08) * np.ones(3)
    elif kind == "stain":
        alpha = 0.7 * blob(size, rng, (0.08, 0.18))
        colour = np.array([0.45, 0.3, 0.1]) * rng.uniform(0.6, 1.2)
    elif kind == "colour":  # the region keeps its texture, its colour turns
        alpha = blob(size, rng, (0.1, 0.2))
        tint = rng.permutation(np.array([1.3, 0.9, 0.55]))  # grey textures take a colour cast
        turned = image * tint[:, None, None] + rng.uniform(0.0, 0.1)
        out = image * (1 - alpha) + np.clip(turned, 0, 1) * alpha
        return out, alpha > 0.25
    else:
        raise ValueError(f"unknown defect {kind!r}; known: {DEFECTS}")
    out = image * (1 - alpha) + colour[:, None, None] * alpha
    return np.clip(out, 0, 1), alpha > 0.25


@builtin("textures-defects")
def textures_defects(split: str = "train", image_size=64, seed: int = 0, train_count: int = 1200,
                     test_count: int = 400) -> TensorImageDataset:
    """Texture crops of scikit-image's brick, grass and gravel photos: train = normal only; test = half normal,
    half with one defect (scratch, hole, stain, colour shift) and its pixel mask. Fixed sets."""
    check_split(split)
    if split == "all":
        split = "train"
    side = image_size if isinstance(image_size, int) else int(image_size[0])
    rng = np.random.default_rng({"train": 21, "test": 22}[split])
    count = train_count if split == "train" else test_count
    images = texture_crops(count, side, rng)
    labels = np.zeros(count, dtype=np.int64)
    masks = np.zeros((count, side, side), dtype=np.uint8)
    kinds = ["good"] * count
    if split == "test":
        for i in range(1, count, 2):
            kind = DEFECTS[(i // 2) % len(DEFECTS)]
            images[i], mask = add_defect(images[i], kind, rng)
            labels[i], masks[i], kinds[i] = 1, mask, kind
    data = TensorImageDataset(_to_uint8(images), torch.as_tensor(labels), classes=["good", "defect"],
                              name=f"textures-defects:{split}")
    data.masks, data.kinds = torch.from_numpy(masks), kinds
    return data


# ---------------------------------------------------------------- MVTec AD's folder layout
def is_mvtec_folder(root: Path) -> bool:
    return (root / "train" / "good").is_dir() and (root / "test").is_dir()


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_mvtec_folder(root: str | Path, image_size, channels: int | None = None, split: str = "train"):
    """train: `train/good` (normal only); test: every `test/<defect>` with masks from `ground_truth/<defect>`
    (`<name>_mask.png`, or the same file name). Images resized to `image_size`."""
    from .transforms import resize
    root = Path(root)
    check_split(split)
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    channels = channels or 3
    folders = [root / "train" / "good"] if split in ("train", "all") else \
        sorted(p for p in (root / "test").iterdir() if p.is_dir())
    images, labels, masks, kinds = [], [], [], []
    for folder in folders:
        kind = folder.name
        for path in image_files(folder):
            try:
                pixels = torch.from_numpy(read_image(path, channels)).float()
            except (OSError, ValueError) as err:
                raise ValueError(f"{path}: cannot read this image ({err})") from None
            images.append((resize(pixels, size) * 255).round().clamp(0, 255).to(torch.uint8))
            labels.append(0 if kind == "good" else 1)
            kinds.append(kind)
            masks.append(mvtec_mask(root, kind, path, size))
    if not images:
        raise ValueError(f"{root}: no images under {', '.join(str(f.relative_to(root)) for f in folders)}")
    data = TensorImageDataset(torch.stack(images), torch.tensor(labels), classes=["good", "defect"],
                              name=f"{root}:{split}")
    data.masks, data.kinds = torch.stack(masks), kinds
    return data


def mvtec_mask(root: Path, kind: str, path: Path, size: tuple[int, int]) -> torch.Tensor:
    """[H,W] uint8: 1 on the defect, 0 elsewhere; zeros for good images; 255 everywhere when the mask is missing."""
    from .transforms import resize
    if kind == "good":
        return torch.zeros(size, dtype=torch.uint8)
    folder = root / "ground_truth" / kind
    for candidate in (folder / f"{path.stem}_mask.png", folder / path.name, folder / f"{path.stem}.png"):
        if candidate.exists():
            mask = torch.from_numpy(read_image(candidate, 1)).float()
            return (resize(mask, size)[0] > 0.5).to(torch.uint8)
    return torch.full(size, 255, dtype=torch.uint8)  # unknown: no pixel metrics for this image
