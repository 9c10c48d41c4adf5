"""`phantom-mri`: a multi-modal 3-D head phantom for BM-MAE (row 15), no downloads.

scikit-image's Shepp-Logan phantom (6 tissue levels) is extruded into an ellipsoidal head (each axial slice the
phantom shrunk by the ellipsoid's profile), posed at random (in-plane rotation, scale, shift), and rendered as three
co-registered "sequences" by three contrast tables of the tissues (a T1-like, a T2-like and a FLAIR-like mapping,
none a linear function of another), with a smooth bias field and noise per sequence. Half the subjects carry 1-3
small ellipsoidal lesions (bright on T2 and FLAIR, dark on T1): the label is lesion present / absent.
A sample is [M=3,D,H,W], the modalities as channels (the order of `SEQUENCES`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .builtin import balanced_labels, builtin
from .datasets import check_split
from .volume import TensorVolumeDataset, smooth_noise, volume_size

SEQUENCES = ["t1", "t2", "flair"]
# intensity of each tissue (background, skull, brain-like levels..., brightest) in each sequence; lesion last
CONTRAST = np.array([
    [0.00, 0.85, 0.45, 0.60, 0.30, 0.70, 0.15],   # t1: bright skull, grey-white contrast, lesions dark
    [0.00, 0.25, 0.65, 0.40, 0.90, 0.20, 0.95],   # t2: fluid bright, lesions bright
    [0.00, 0.30, 0.55, 0.50, 0.20, 0.35, 1.00],   # flair: fluid suppressed, lesions brightest
], dtype=np.float32)
LESION = CONTRAST.shape[1] - 1


@lru_cache(maxsize=2)
def tissue_map(side: int = 128) -> Tensor:
    """Shepp-Logan's 6 tissue levels as ids 0..5, [side,side] (nearest resampling)."""
    from skimage.data import shepp_logan_phantom
    levels = np.array([0.0, 0.098, 0.2, 0.298, 0.4, 1.0])
    p = shepp_logan_phantom()
    ids = np.abs(p[..., None] - levels).argmin(-1).astype(np.float32)
    return F.interpolate(torch.from_numpy(ids)[None, None], size=(side, side), mode="nearest")[0, 0]


def render_subject(size, lesions: int, rng: np.random.Generator) -> np.ndarray:
    """One subject: [3,D,H,W] in [0,1], the three sequences of one posed head (with `lesions` lesions)."""
    d, h, w = size
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in size], indexing="ij")
    angle, scale = rng.uniform(-0.4, 0.4), rng.uniform(0.85, 1.05)
    shift = rng.uniform(-0.08, 0.08, size=2)
    profile = np.sqrt(np.clip(1 - (z / 0.95) ** 2, 1e-4, None))  # the head's ellipsoid: slices shrink to the poles
    yr, xr = (y - shift[0]) / scale, (x - shift[1]) / scale
    u = (np.cos(angle) * xr - np.sin(angle) * yr) / profile
    v = (np.sin(angle) * xr + np.cos(angle) * yr) / profile
    grid = torch.from_numpy(np.stack([u, v], -1).reshape(1, d * h, w, 2).astype(np.float32))
    ids = F.grid_sample(tissue_map()[None, None], grid, mode="nearest", padding_mode="zeros", align_corners=False)
    ids = ids.reshape(d, h, w).numpy().astype(np.int64)
    ids[np.abs(z) > 0.95] = 0
    for _ in range(lesions):
        centre = rng.uniform(-0.35, 0.35, size=3) * np.array([0.6, 1, 1])
        radii = rng.uniform(0.08, 0.16, size=3)
        inside = (((z - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2
                  + ((x - centre[2]) / radii[2]) ** 2) <= 1
        ids[inside & (ids >= 2)] = LESION  # lesions sit in brain tissue
    jitter = 1 + rng.uniform(-0.08, 0.08, size=CONTRAST.shape).astype(np.float32)
    out = np.empty((len(SEQUENCES), d, h, w), dtype=np.float32)
    for m in range(len(SEQUENCES)):
        bias = 1 + 0.1 * smooth_noise(rng, size, 3)
        out[m] = (CONTRAST[m] * jitter[m])[ids] * bias + rng.normal(0, 0.02, size=size)
    return np.clip(out, 0, 1)


@lru_cache(maxsize=4)
def _phantom_split(split: str, size: tuple[int, int, int], count: int) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng({"train": 41, "test": 42}[split])
    labels = balanced_labels(count, 2, rng)
    volumes = np.stack([render_subject(size, int(rng.integers(1, 4)) if lab else 0, rng) for lab in labels])
    return torch.from_numpy(np.round(volumes * 255).astype(np.uint8)), torch.as_tensor(labels)


@builtin("phantom-mri")
def phantom_mri(split: str = "train", image_size=32, seed: int = 0, train_count: int = 400,
                test_count: int = 200) -> TensorVolumeDataset:
    """Multi-modal 3-D head phantoms (Shepp-Logan, scikit-image) as 3 co-registered sequences (t1, t2, flair; the
    channels), random pose, bias and noise; label 1 when the subject has lesions (2 classes); fixed splits."""
    if split == "all":
        a, b = phantom_mri("train", image_size), phantom_mri("test", image_size)
        return TensorVolumeDataset(torch.cat([a.volumes, b.volumes]), torch.cat([a.labels, b.labels]),
                                   classes=a.classes, name="phantom-mri:all")
    check_split(split)
    volumes, labels = _phantom_split(split, volume_size(image_size), train_count if split == "train" else test_count)
    data = TensorVolumeDataset(volumes, labels, classes=["healthy", "lesion"], name=f"phantom-mri:{split}")
    data.sequences = list(SEQUENCES)
    return data
