"""The volume modality (rows 15, 17, 25: CT / MRI volumes): samples [C,D,H,W], the built-in `volume-shapes`,
folders of NIfTI (`nibabel`), `.npy` / `.npz` and multi-page TIFF files with their voxel spacing.

Every file is read as float [C,D,H,W] with its spacing (mm per voxel along D, H, W), resampled to the folder's
common spacing (`spacing:` in the folder's anymae.yaml, else the median of the files'), padded to a cube that
keeps its proportions and resized to the model's volume size. 4-D NIfTI files (time series), NaN/Inf, empty or
unreadable files are skipped, each named once in the log and counted in the run summary.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .builtin import balanced_labels, builtin
from .datasets import SeededSamples, check_split, folder_files, folder_labels, folder_split, read_each
from .modality import Modality, register_modality

VOLUME_SUFFIXES = (".nii", ".gz", ".npz", ".npy", ".tif", ".tiff")
MAX_RESAMPLE = 8.0  # a file whose spacing differs from the target by more than this factor on an axis is refused


# ---------------------------------------------------------------- data set
class TensorVolumeDataset(SeededSamples):
    """Volumes, each uint8 or float [C,D,H,W] (a stacked tensor [N,C,D,H,W] or a list), labels [N]; items
    `(volume, label, index)` with seeded augmentations, as `TensorImageDataset`."""

    store = "volumes"
    modality = "volume"

    def __init__(self, volumes, labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "volumes"):
        for i, v in enumerate(volumes):
            if v.ndim != 4:
                raise ValueError(f"{name}: volume {i} should be [C,D,H,W], got shape {tuple(v.shape)}")
        super().__init__(len(volumes), labels, transform, seed, classes, name)
        self.volumes = volumes

    @property
    def channels(self) -> int:
        return int(self.volumes[0].shape[0])

    def __len__(self) -> int:
        return len(self.volumes)

    def pixels(self, index: int) -> Tensor:
        v = self.volumes[index]
        return v.float() / 255.0 if v.dtype == torch.uint8 else v.float()


# ---------------------------------------------------------------- transforms
def resize_volume(x: Tensor, size) -> Tensor:
    """x [C,D,H,W] -> [C,*size] (trilinear)."""
    if tuple(x.shape[1:]) == tuple(size):
        return x
    return F.interpolate(x.unsqueeze(0), size=tuple(size), mode="trilinear", align_corners=False).squeeze(0)


class VolumePretrainTransform:
    """A random cuboid crop holding `scale` of the volume (each side the cube root of it), resized to `size`, a
    random left-right flip (the last axis, as MAE's horizontal flip), normalised per channel."""

    def __init__(self, size, mean: Tensor, std: Tensor, scale=(0.4, 1.0)):
        self.size, self.scale = tuple(size), tuple(scale)
        self.mean, self.std = mean.view(-1, 1, 1, 1), std.view(-1, 1, 1, 1)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        u = torch.rand(5, generator=generator).tolist()
        fraction = (self.scale[0] + (self.scale[1] - self.scale[0]) * u[0]) ** (1 / 3)
        sides = [max(1, int(round(s * fraction))) for s in x.shape[1:]]
        corner = [int(r * (s - c + 1)) for r, s, c in zip(u[1:4], x.shape[1:], sides)]
        x = x[:, corner[0]:corner[0] + sides[0], corner[1]:corner[1] + sides[1], corner[2]:corner[2] + sides[2]]
        x = resize_volume(x, self.size)
        if u[4] < 0.5:
            x = x.flip(-1)
        return (x - self.mean) / self.std


class VolumeEvalTransform:
    """The whole volume resized to `size`, normalised (probes, pictures); `invert` gives [0,1] intensities."""

    def __init__(self, size, mean: Tensor, std: Tensor):
        self.size = tuple(size)
        self.mean, self.std = mean.view(-1, 1, 1, 1), std.view(-1, 1, 1, 1)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return (resize_volume(x, self.size) - self.mean) / self.std

    def invert(self, x: Tensor) -> Tensor:
        return (x * self.std.to(x) + self.mean.to(x)).clamp(0, 1)


# ---------------------------------------------------------------- built-in: volume-shapes
SOLIDS = ["sphere", "cube", "cylinder", "cone", "torus", "octahedron"]


def solid_inside(kind: int, p: np.ndarray) -> np.ndarray:
    """p [...,3] in the solid's own frame (unit size) -> bool [...]: inside solid `SOLIDS[kind]`."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    radial = np.sqrt(x ** 2 + y ** 2)
    if kind == 0:
        return (p ** 2).sum(-1) <= 1.0
    if kind == 1:
        return np.abs(p).max(-1) <= 0.75
    if kind == 2:
        return (radial <= 0.6) & (np.abs(z) <= 0.9)
    if kind == 3:
        return (np.abs(z) <= 0.9) & (radial <= 0.85 * (0.9 - z) / 1.8)
    if kind == 4:
        return (radial - 0.65) ** 2 + z ** 2 <= 0.3 ** 2
    return np.abs(p).sum(-1) <= 1.15


def smooth_noise(rng: np.random.Generator, size, coarse: int = 4) -> np.ndarray:
    """Smooth random field [*size] in about [-1, 1]: coarse noise upsampled trilinearly."""
    field = torch.from_numpy(rng.standard_normal((1, 1, coarse, coarse, coarse)).astype(np.float32))
    return F.interpolate(field, size=tuple(size), mode="trilinear", align_corners=True)[0, 0].numpy()


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation matrix [3,3] (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def render_solid(kind: int, size, rng: np.random.Generator) -> np.ndarray:
    """One textured solid at random pose, size and position over a noisy textured background: [D,H,W] in [0,1]."""
    axes = [np.linspace(-1, 1, s, dtype=np.float32) for s in size]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1)  # [D,H,W,3]
    scale = rng.uniform(0.4, 0.7)
    centre = rng.uniform(-0.2, 0.2, size=3)
    local = (grid - centre) @ random_rotation(rng) / scale  # rows times R: the inverse pose
    inside = solid_inside(kind, local)
    background = 0.25 + 0.08 * smooth_noise(rng, size, 3)
    body = rng.uniform(0.55, 0.9) + 0.08 * smooth_noise(rng, size, 6)
    volume = np.where(inside, body, background) + rng.normal(0, 0.04, size=tuple(size))
    return np.clip(volume, 0, 1).astype(np.float32)


@lru_cache(maxsize=4)
def _volume_shapes_split(split: str, size: tuple[int, int, int], count: int) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng({"train": 31, "test": 32}[split])
    labels = balanced_labels(count, len(SOLIDS), rng)
    volumes = np.stack([render_solid(int(k), size, rng) for k in labels])[:, None]
    return torch.from_numpy(np.round(volumes * 255).astype(np.uint8)), torch.as_tensor(labels)


def volume_size(image_size) -> tuple[int, int, int]:
    """int or (D, H, W) -> (D, H, W)."""
    if isinstance(image_size, int):
        return (image_size,) * 3
    size = tuple(int(s) for s in image_size)
    return size if len(size) == 3 else (size[0],) * 3


@builtin("volume-shapes")
def volume_shapes(split: str = "train", image_size=32, seed: int = 0, train_count: int = 600,
                  test_count: int = 300) -> TensorVolumeDataset:
    """Procedural labelled 3-D solids (6 classes: sphere, cube, cylinder, cone, torus, octahedron), each at a random
    rotation, size and position, with a smooth texture, a textured background and voxel noise; one channel,
    rendered at `image_size` (int or (D,H,W)); fixed train/test sets (different random streams)."""
    if split == "all":
        a, b = volume_shapes("train", image_size), volume_shapes("test", image_size)
        return TensorVolumeDataset(torch.cat([a.volumes, b.volumes]), torch.cat([a.labels, b.labels]),
                                   classes=a.classes, name="volume-shapes:all")
    check_split(split)
    volumes, labels = _volume_shapes_split(split, volume_size(image_size), train_count if split == "train" else test_count)
    return TensorVolumeDataset(volumes, labels, classes=list(SOLIDS), name=f"volume-shapes:{split}")


# ---------------------------------------------------------------- files
def is_volume_file(path: Path) -> bool:
    """Whether a file of a shared suffix holds a volume: NIfTI and .npz always; a .npy / TIFF when it is 4-D
    [C,D,H,W], or 3-D with every side above 16 (a [C,H,W] image with few channels stays a multi-channel image)."""
    suffix = path.suffix.lower()
    if suffix in (".nii", ".gz", ".npz"):
        return True
    try:
        if suffix == ".npy":
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
        else:
            import tifffile
            with tifffile.TiffFile(path) as tif:
                shape = (len(tif.pages), *tif.pages[0].shape)
    except (OSError, ValueError, IndexError):
        return False
    return len(shape) == 4 or (len(shape) == 3 and min(shape) > 16)


def read_raw_volume(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """One file -> (array [D,H,W] or [C,D,H,W], spacing (d,h,w) in mm; 1 where the format holds none)."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        try:
            import nibabel as nib
        except ImportError:
            raise ValueError(f"{path}: reading NIfTI needs nibabel (pip install \"anymae[volumes]\")") from None
        try:
            image = nib.load(str(path))
            shape = image.shape
            if len(shape) == 4 and shape[3] > 1:
                raise ValueError(f"{path}: a 4-D NIfTI ({'x'.join(map(str, shape))}: a time series or several "
                                 f"volumes); anymae reads one 3-D volume per file")
            data = np.asarray(image.dataobj, dtype=np.float32).reshape(shape[:3])
            zooms = [float(z) for z in image.header.get_zooms()[:3]]
        except (OSError, EOFError, nib.filebasedimages.ImageFileError) as err:
            raise ValueError(f"{path}: cannot read NIfTI ({err})") from None
        # NIfTI arrays are (x, y, z): make depth the slice axis z, then y, then x
        return np.ascontiguousarray(data.transpose(2, 1, 0)), (zooms[2], zooms[1], zooms[0])
    if name.endswith(".gz"):
        raise ValueError(f"{path}: a .gz file that is not .nii.gz")
    try:
        if name.endswith(".npy"):
            return np.load(path, allow_pickle=False), (1.0, 1.0, 1.0)
        if name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                key = "volume" if "volume" in keys else keys[0] if len(keys) == 1 else None
                if key is None:
                    raise ValueError(f"{path}: holds {keys}; name the volume's array 'volume'")
                spacing = tuple(float(s) for s in z["spacing"]) if "spacing" in keys else (1.0, 1.0, 1.0)
                return z[key], spacing
        import tifffile
        return tifffile.imread(path), (1.0, 1.0, 1.0)
    except (OSError, EOFError, KeyError, IndexError, ValueError) as err:
        if str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read ({err})") from None


def as_volume(arr: np.ndarray, path: Path) -> Tensor:
    """array [D,H,W] / [C,D,H,W] -> float [C,D,H,W]; uint8/uint16 scaled to [0,1]; empty or NaN refused."""
    if arr.size == 0:
        raise ValueError(f"{path}: empty volume (shape {arr.shape})")
    if arr.ndim not in (3, 4):
        raise ValueError(f"{path}: a {arr.ndim}-D array {arr.shape}; a volume is [D,H,W] or [C,D,H,W]")
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        x = arr.astype(np.float32) / 65535.0
    else:
        x = arr.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: holds {int((~np.isfinite(x)).sum())} NaN/Inf voxel(s)")
    x = torch.from_numpy(np.ascontiguousarray(x))
    return x.unsqueeze(0) if x.ndim == 3 else x


def resample(x: Tensor, spacing, target, path: Path) -> Tensor:
    """x [C,D,H,W] at `spacing` -> the same field of view at `target` spacing (trilinear); refused past 8x."""
    factors = [s / t for s, t in zip(spacing, target)]
    if any(f <= 0 or not math.isfinite(f) for f in factors):
        raise ValueError(f"{path}: voxel spacing {tuple(spacing)} is not positive")
    if max(max(factors), 1 / min(factors)) > MAX_RESAMPLE:
        raise ValueError(f"{path}: voxel spacing {tuple(round(s, 3) for s in spacing)} mm is more than "
                         f"{MAX_RESAMPLE:g}x from the folder's {tuple(round(t, 3) for t in target)} mm; set "
                         f"`spacing:` in the folder's anymae.yaml or resample the file")
    shape = [max(2, int(round(n * f))) for n, f in zip(x.shape[1:], factors)]
    return resize_volume(x, shape)


def pad_to_cube(x: Tensor) -> Tensor:
    """x [C,D,H,W] -> [C,S,S,S] with S the longest side, centred in zeros (proportions kept)."""
    side = max(x.shape[1:])
    pads = []
    for n in reversed(x.shape[1:]):
        pads += [(side - n) // 2, side - n - (side - n) // 2]
    return F.pad(x, pads)


def normalise_intensity(x: Tensor) -> Tensor:
    """Each channel to [0,1] by its 0.5 and 99.5 percentiles (CT/MRI units differ between files)."""
    flat = x.flatten(1)
    k = max(1, flat.shape[1] // 200)
    low = flat.kthvalue(k, dim=1).values.view(-1, 1, 1, 1)
    high = flat.kthvalue(flat.shape[1] - k + 1, dim=1).values.view(-1, 1, 1, 1)
    return ((x - low) / (high - low).clamp_min(1e-6)).clamp(0, 1)


def folder_spacing(root: Path) -> tuple[float, float, float] | None:
    """`spacing: [d, h, w]` (mm) from the folder's anymae.yaml, or None."""
    settings = root / "anymae.yaml"
    if not settings.is_file():
        return None
    import yaml
    value = (yaml.safe_load(settings.read_text()) or {}).get("spacing")
    if value is None:
        return None
    spacing = (float(value),) * 3 if isinstance(value, (int, float)) else tuple(float(v) for v in value)
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"{settings}: spacing must be a positive number or [d, h, w], got {value!r}")
    return spacing


def load_volume_folder(root: str | Path, image_size=32, channels: int | None = None, split: str = "all",
                       test_fraction: float = 0.3) -> TensorVolumeDataset:
    """Every volume under `root` into memory at the model's size (labels = sub-folder names when every file has
    one; 70/30 stratified split). Spacing: resampled to the folder's (see the module docstring)."""
    root = Path(root)
    paths = [p for p in folder_files(root, VOLUME_SUFFIXES, "volume") if p.name != "anymae.yaml"]
    size = volume_size(image_size)
    raw = read_each(root, paths, lambda _, path: (path, *read_raw_volume(path)))
    target = folder_spacing(root)
    if target is None and raw.items:
        target = tuple(float(np.median([item[2][a] for item in raw.items])) for a in range(3))
    wanted = [channels]  # the run's channel count; when not given, the first readable file's

    def prepare(_, item):
        path, arr, spacing = item
        x = as_volume(arr, path)
        wanted[0] = wanted[0] or x.shape[0]
        if x.shape[0] != wanted[0]:
            raise ValueError(f"{path}: {x.shape[0]} channel(s); the run reads {wanted[0]}")
        x = normalise_intensity(resample(x, spacing, target, path))
        return (resize_volume(pad_to_cube(x), size) * 255).round().to(torch.uint8)

    ready = read_each(root, [item[0] for item in raw.items], lambda i, _: prepare(i, raw.items[i]))
    folders = [f for f, p in zip(raw.folders, [item[0] for item in raw.items]) if str(p) not in ready.skipped]
    if not ready.items:
        raise ValueError(f"{root}: none of the {len(paths)} volume files could be read")
    classes, labels = folder_labels(folders)
    data = TensorVolumeDataset(torch.stack(ready.items), labels, classes=classes, name=str(root))
    data.skipped = raw.skipped + ready.skipped
    return folder_split(data, root, split, test_fraction)


# ---------------------------------------------------------------- modality
def volume_stats(data, max_volumes: int = 256) -> tuple[list[float], list[float]]:
    """Per-channel mean and std over (up to `max_volumes` of) a volume data set."""
    xs = torch.stack([data.pixels(i) for i in range(min(len(data), max_volumes))]).double()
    mean = xs.mean(dim=(0, 2, 3, 4))
    std = xs.std(dim=(0, 2, 3, 4)).clamp_min(1e-3)
    return [round(float(m), 5) for m in mean], [round(float(s), 5) for s in std]


@register_modality
class VolumeModality(Modality):
    """Volumes for the volume recipes: the tokenizer's `image_size` (D,H,W) sets the transforms."""

    name = "volume"

    def sample_size(self, model, config):
        return tuple(model.tokenizer.image_size)

    def stats(self, dataset):
        return volume_stats(dataset)

    def pretrain_transform(self, model, config):
        return VolumePretrainTransform(model.tokenizer.image_size, torch.tensor(config.mean), torch.tensor(config.std))

    def eval_transform(self, model, config):
        return VolumeEvalTransform(model.tokenizer.image_size, torch.tensor(config.mean), torch.tensor(config.std))
