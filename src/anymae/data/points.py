"""Point clouds (Point-MAE, PAPERS.md row 10): files, the built-in `point-shapes`, and the `points` modality.

Every cloud is stored as `max(STORED_POINTS, asked)` points in random order, centred and scaled
into the unit sphere; the model's transform takes the `num_points` it wants (a random subset plus
Point-MAE's scale-and-translate when pretraining, the first points otherwise).
"""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .builtin import balanced_labels, builtin
from .datasets import SeededSamples, check_split, folder_files, folder_labels, folder_split, read_each
from .modality import Modality, register_modality


STORED_POINTS = 2048
POINT_SUFFIXES = (".npy", ".xyz", ".txt", ".ply", ".off")


# ---------------------------------------------------------------- clouds and files
def normalise_cloud(points: np.ndarray, name: str = "cloud") -> np.ndarray:
    """points [N,3] -> centred on their mean and scaled so the farthest point is at distance 1."""
    centred = points - points.mean(axis=0, keepdims=True)
    radius = np.sqrt((centred ** 2).sum(axis=1)).max()
    if not radius > 1e-12:
        raise ValueError(f"{name}: all {len(points)} points coincide; cannot scale to the unit sphere")
    return centred / radius


def resample(points: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """[N,3] -> [count,3] in random order: a subset when N >= count, else every point plus random repeats."""
    n = len(points)
    if n >= count:
        return points[rng.permutation(n)[:count]]
    extra = rng.integers(0, n, size=count - n)
    return points[rng.permutation(np.concatenate([np.arange(n), extra]))]


def _read_text(path: Path) -> np.ndarray:
    text = path.read_text()
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    return np.loadtxt(io.StringIO(text), delimiter="," if "," in first else None, comments="#", ndmin=2)


def _read_mesh_or_cloud(path: Path, count: int, rng: np.random.Generator) -> np.ndarray:
    """A .ply / .off through trimesh: a mesh with faces is sampled to `count` surface points; else its vertices."""
    import trimesh
    geometry = trimesh.load(str(path), process=False)
    if isinstance(geometry, trimesh.Scene):
        geometry = geometry.to_geometry()
    faces = getattr(geometry, "faces", None)
    if faces is not None and len(faces) and geometry.area > 0:
        return np.asarray(trimesh.sample.sample_surface(geometry, count, seed=rng)[0])
    return np.asarray(geometry.vertices)


def read_points(path: str | Path, count: int = STORED_POINTS, seed: int = 0, min_points: int | None = None) -> np.ndarray:
    """One file -> float32 [count,3], centred, in the unit sphere, in random order (fixed by `seed`).

    .npy (N x 3, or N x 6 with normals/colours: the first 3 columns), .xyz / .txt (whitespace or
    comma separated, first 3 columns), .ply / .off (meshes sampled on their surface, point-only
    files read as they are). Raises ValueError naming the file when it cannot be read, or when it holds
    fewer than `min_points` points (the model's points per cloud: such a cloud is refused, not padded
    with repeated points).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in POINT_SUFFIXES:
        raise ValueError(f"{path}: not a point-cloud file (expected one of {', '.join(POINT_SUFFIXES)})")
    rng = np.random.default_rng(seed)
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.ndim != 2 or array.shape[1] not in (3, 6):
                raise ValueError(f"expected an N x 3 or N x 6 array, got shape {array.shape}")
        elif suffix in (".xyz", ".txt"):
            array = _read_text(path)
            if array.shape[1] < 3:
                raise ValueError(f"expected at least 3 columns, got {array.shape[1]}")
        else:
            array = _read_mesh_or_cloud(path, count, rng)
        points = np.asarray(array[:, :3], dtype=np.float64)
    except Exception as err:  # readers raise their own error types; report them all the same way
        raise ValueError(f"{path}: cannot read point cloud ({type(err).__name__}: {err})") from None
    if len(points) == 0:
        raise ValueError(f"{path}: holds no points")
    if not np.isfinite(points).all():
        raise ValueError(f"{path}: holds NaN or Inf coordinates")
    if min_points is not None and len(points) < min_points:
        raise ValueError(f"{path}: holds {len(points)} points, fewer than the {min_points} the model takes per "
                         "cloud (not padded with repeats)")
    return normalise_cloud(resample(points, count, rng), str(path)).astype(np.float32)


class PointCloudDataset(SeededSamples):
    """In-memory clouds [M,P,3] and labels [M] with a seeded transform; items are (cloud, label, index).

    Indices >= M (from `EpochSampler`) carry the epoch: (seed, epoch, index) fixes every draw.
    """

    store = "clouds"

    modality = "points"
    channels = 3

    def __init__(self, clouds: Tensor, labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "points"):
        if clouds.ndim != 3 or clouds.shape[-1] != 3:
            raise ValueError(f"{name}: expected clouds [M,P,3], got shape {tuple(clouds.shape)}")
        super().__init__(len(clouds), labels, transform, seed, classes, name)
        self.clouds = clouds

    def __len__(self) -> int:
        return len(self.clouds)

    def pixels(self, index: int) -> Tensor:
        """The stored cloud [P,3] (the raw sample; named as the image data sets name theirs)."""
        return self.clouds[index]


def stored_count(size) -> int:
    """Points kept per sample: at least STORED_POINTS, more when the model asks for more."""
    return max(STORED_POINTS, size) if isinstance(size, int) else STORED_POINTS


def load_point_folder(root: str | Path, image_size=None, channels=None, split: str = "all",
                      test_fraction: float = 0.3) -> PointCloudDataset:
    """Every point-cloud file under `root` (recursive); class = sub-folder name when every file has one.

    Unreadable files, and clouds with fewer points than `image_size` (the model's points per cloud), are
    skipped and named once each (counted in `dataset.skipped`).
    """
    root = Path(root)
    check_split(split)
    paths = folder_files(root, POINT_SUFFIXES, "point-cloud")
    count = stored_count(image_size)
    need = image_size if isinstance(image_size, int) else None  # the model's points per cloud
    files = read_each(root, paths, lambda i, path: torch.from_numpy(read_points(path, count, seed=i,
                                                                                min_points=need)))
    if not files.items:
        reasons = files.reasons
        shown = "; ".join(reasons[:3]) + (f"; ... ({len(reasons) - 3} more)" if len(reasons) > 3 else "")
        raise ValueError(f"{root}: none of the {len(paths)} point-cloud files ({', '.join(POINT_SUFFIXES)}) could "
                         f"be read ({shown})")
    classes, labels = folder_labels(files.folders)
    data = PointCloudDataset(torch.stack(files.items), labels, classes=classes, name=str(root))
    data.skipped = files.skipped
    return folder_split(data, root, split, test_fraction)


# ---------------------------------------------------------------- built-in point-shapes
def _convex(vertices) -> "object":
    import trimesh
    return trimesh.convex.convex_hull(np.asarray(vertices, dtype=np.float64))


def _bowl():
    """An open hemisphere shell (no cap)."""
    import trimesh
    sphere = trimesh.creation.icosphere(subdivisions=3)
    return sphere.submesh([np.nonzero(sphere.triangles_center[:, 2] > 0)[0]], append=True)


def primitive_meshes() -> dict:
    """The ten primitive surfaces of `point-shapes`, each about unit size, in their own frame."""
    import trimesh
    c = trimesh.creation
    return {
        "sphere": c.icosphere(subdivisions=3),
        "cube": c.box(extents=(1.5, 1.5, 1.5)),
        "cylinder": c.cylinder(radius=0.6, height=1.6, sections=48),
        "cone": c.cone(radius=0.7, height=1.6, sections=48),
        "torus": c.torus(major_radius=0.75, minor_radius=0.25),
        "capsule": c.capsule(height=1.0, radius=0.45, count=[32, 32]),
        "pyramid": _convex([[-1, -1, -0.6], [1, -1, -0.6], [1, 1, -0.6], [-1, 1, -0.6], [0, 0, 1]]),
        "tetrahedron": _convex([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]),
        "octahedron": _convex([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]),
        "bowl": _bowl(),
    }


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation [3,3] (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def sample_shape(mesh, count: int, rng: np.random.Generator, scale=(0.6, 1.4), noise: float = 0.01,
                 dropout: float = 0.2) -> np.ndarray:
    """One labelled sample: the mesh under a random anisotropic scale and rotation, sampled on its
    surface, a random cap of up to `dropout` of the points cut away (occlusion), Gaussian noise
    (`noise` x unit radius); -> [count,3] centred in the unit sphere, in random order."""
    import trimesh
    transform = random_rotation(rng) @ np.diag(rng.uniform(*scale, size=3))
    shaped = trimesh.Trimesh(mesh.vertices @ transform.T, mesh.faces, process=False)
    drop = int(rng.uniform(0, dropout) * count)
    points = np.asarray(trimesh.sample.sample_surface(shaped, count + drop, seed=rng)[0])
    direction = rng.normal(size=3)
    keep = np.argsort(points @ direction)[:count]  # drop the `drop` points farthest along a random direction
    points = normalise_cloud(points[keep])
    points = points + rng.normal(scale=noise, size=points.shape)
    return normalise_cloud(points[rng.permutation(count)])


@lru_cache(maxsize=4)
def _point_shapes_split(split: str, count: int, points: int) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng({"train": 21, "test": 22}[split])
    meshes = list(primitive_meshes().values())
    labels = balanced_labels(count, len(meshes), rng)
    clouds = np.stack([sample_shape(meshes[label], points, rng) for label in labels]).astype(np.float32)
    return torch.from_numpy(clouds), torch.as_tensor(labels)


POINT_SHAPES = ("sphere", "cube", "cylinder", "cone", "torus", "capsule", "pyramid", "tetrahedron", "octahedron",
                "bowl")


@builtin("point-shapes")
def point_shapes(split: str = "train", image_size=None, seed: int = 0, train_count: int = 2000,
                 test_count: int = 1000) -> PointCloudDataset:
    """Clouds sampled from 10 primitive surfaces (labelled) under random anisotropic scale, rotation,
    noise and a cut-away cap; generated once (fixed seeds), fixed train/test sets."""
    check_split(split)
    points = stored_count(image_size)
    if split == "all":
        a, b = point_shapes("train", points), point_shapes("test", points)
        return PointCloudDataset(torch.cat([a.clouds, b.clouds]), torch.cat([a.labels, b.labels]),
                                 classes=list(POINT_SHAPES), name="point-shapes:all")
    clouds, labels = _point_shapes_split(split, train_count if split == "train" else test_count, points)
    return PointCloudDataset(clouds, labels, classes=list(POINT_SHAPES), name=f"point-shapes:{split}")


# ---------------------------------------------------------------- the modality
class PointTransform:
    """cloud [P,3] -> [num_points,3]. With `augment`: a random subset and Point-MAE's random
    anisotropic scale (2/3-3/2 per axis) and translation (+-0.2); without: the first `num_points`
    (stored clouds are in random order, so that is a fixed uniform subset)."""

    def __init__(self, num_points: int, augment: bool = False, scale=(2 / 3, 3 / 2), translate: float = 0.2):
        self.num_points, self.augment, self.scale, self.translate = num_points, augment, scale, translate

    def __call__(self, cloud: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if cloud.shape[0] < self.num_points:
            raise ValueError(f"the model wants {self.num_points} points per cloud; the data holds {cloud.shape[0]}")
        if not self.augment or generator is None:
            return cloud[:self.num_points]
        index = torch.randperm(cloud.shape[0], generator=generator)[:self.num_points]
        low, high = self.scale
        scale = low + (high - low) * torch.rand(3, generator=generator)
        shift = self.translate * (2 * torch.rand(3, generator=generator) - 1)
        return cloud[index] * scale + shift


@register_modality
class PointsModality(Modality):
    """Point clouds [N,3] (Point-MAE, row 10): a random subset, scaled and shifted, for pretraining; the
    first `num_points` otherwise."""

    name = "points"

    def sample_size(self, model, config):
        return model.tokenizer.num_points

    def stats(self, dataset):
        return None, None

    def pretrain_transform(self, model, config):
        return PointTransform(model.tokenizer.num_points, augment=True)

    def eval_transform(self, model, config):
        return PointTransform(model.tokenizer.num_points)


# ---------------------------------------------------------------- point-cloud generators (MAR-3D)
def clouds_of(data, count: int, name: str) -> torch.Tensor:
    """A data set of point clouds -> its first `count` points of each cloud [M,count,3] (stored clouds are in
    random order: a fixed uniform subset, as Point-MAE's evaluation transform)."""
    clouds = getattr(data, "clouds", None)
    if not torch.is_tensor(clouds) or clouds.ndim != 3 or clouds.shape[-1] != 3:
        raise ValueError(f"--data {name}: point-cloud generators take point clouds (point-shapes or a folder of "
                         ".npy/.xyz/.txt/.ply/.off files)")
    if clouds.shape[1] < count:
        raise ValueError(f"--data {name}: clouds of {clouds.shape[1]} points, fewer than num_points={count}")
    return clouds[:, :count].float().contiguous()
