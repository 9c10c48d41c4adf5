"""Data sets as tensors in [0,1]; items are (x, label, index) with label -1 when unlabelled."""
from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from .transforms import sample_generator

log = logging.getLogger("anymae.data")


class SeededSamples(Dataset):
    """What every data set shares: labels (-1 = unlabelled), an epoch, and `__getitem__` that draws
    each sample's augmentation from (seed, epoch, index).

    Subclasses hold the samples in the attribute named by `store`, take (samples, labels, transform, seed,
    classes, name) in their constructor, and give `__len__` and `pixels(i)` (the raw sample).
    """

    labels: Tensor
    transform = None
    seed: int = 0
    epoch: int = 0
    store = "images"

    def __init__(self, count: int, labels: Tensor | None, transform, seed: int, classes: list[str] | None,
                 name: str):
        """The state every data set of `count` samples keeps beside its samples."""
        self.labels = labels if labels is not None else torch.full((count,), -1, dtype=torch.long)
        self.transform, self.seed, self.epoch = transform, seed, 0
        self.classes, self.name = classes, name
        self.skipped: list[str] = []

    def _rebuilt(self, samples, labels: Tensor, transform, seed: int, name: str):
        out = type(self)(samples, labels, transform, seed, self.classes, name)
        out.skipped = self.skipped
        return out

    def with_transform(self, transform, seed: int | None = None):
        """The same samples read through `transform` (augmentations drawn from `seed`, default this set's)."""
        return self._rebuilt(getattr(self, self.store), self.labels, transform,
                             self.seed if seed is None else seed, self.name)

    def subset(self, index: Tensor, name: str):
        """The samples at `index` [M] (a list of samples is indexed one by one), same transform and seed."""
        samples = getattr(self, self.store)
        picked = samples[index] if torch.is_tensor(samples) else [samples[int(i)] for i in index]
        return self._rebuilt(picked, self.labels[index], self.transform, self.seed, name)

    @property
    def labelled(self) -> bool:
        return bool((self.labels >= 0).all())

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def locate(self, index: int) -> tuple[int, int]:
        """index < N: (the current epoch, index); index >= N (EpochSampler): (index // N, index % N)."""
        return (index // len(self), index % len(self)) if index >= len(self) else (self.epoch, index)

    def __getitem__(self, index: int):
        """(sample `index` through the transform, its label, its index in the set); see `locate`."""
        epoch, index = self.locate(index)
        x = self.pixels(index)
        if self.transform is not None:
            x = self.transform(x, sample_generator(self.seed, epoch, index))
        return x, int(self.labels[index]), index

    def __getitems__(self, indices: list[int]) -> list:
        """A data loader's batch of items. A transform that has a `batch` method (`PretrainTransform`) runs
        once over the stacked samples, each with its own generator: the same draws as item by item."""
        batch = getattr(self.transform, "batch", None)
        if batch is None:
            return [self[int(i)] for i in indices]
        samples = [self.locate(int(i)) for i in indices]
        pixels = [self.pixels(i) for _, i in samples]
        generators = [sample_generator(self.seed, epoch, i) for epoch, i in samples]
        if any(x.shape != pixels[0].shape for x in pixels):           # images of several sizes: one at a time
            out = [batch(x[None], [g])[0] for x, g in zip(pixels, generators)]
        else:
            out = batch(torch.stack(pixels), generators)
        return [(x, int(self.labels[i]), i) for x, (_, i) in zip(out, samples)]


class TensorImageDataset(SeededSamples):
    """In-memory images [N,C,H,W] (uint8 or float in [0,1]) and labels [N], with a seeded transform.

    `set_epoch(e)` changes the augmentation stream; (seed, epoch, index) fixes every draw.
    """

    modality = "image"

    def __init__(self, images: Tensor, labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "data"):
        if images.ndim != 4:
            raise ValueError(f"{name}: expected images [N,C,H,W], got shape {tuple(images.shape)}")
        super().__init__(len(images), labels, transform, seed, classes, name)
        self.images = images

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def __len__(self) -> int:
        return len(self.images)

    def pixels(self, index: int) -> Tensor:
        x = self.images[index]
        return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


# ---------------------------------------------------------------- folders of user files
def list_files(root: Path, suffixes: Collection[str]) -> list[Path]:
    """Every file under `root` (recursive, sorted) whose suffix, in any case, is one of `suffixes`."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def folder_files(root: Path, suffixes: Sequence[str], kind: str) -> list[Path]:
    """`list_files`, or a ValueError naming the folder and the `suffixes` looked for when it finds none."""
    paths = list_files(root, suffixes)
    if not paths:
        raise ValueError(f"{root}: no {kind} files found (looked for {', '.join(suffixes)})")
    return paths


@dataclass
class FolderRead:
    """What `read_each` made of a folder's files: the readable ones in path order, and the rest."""

    items: list = field(default_factory=list)          # what `read` gave for each readable file
    folders: list[str] = field(default_factory=list)   # each readable file's sub-folder ("." at the top)
    skipped: list[str] = field(default_factory=list)   # paths of the files that could not be read
    reasons: list[str] = field(default_factory=list)   # the error naming each skipped file


_REPORTED: set[tuple[str, str]] = set()  # (file, problem) pairs already reported by this process


def report_skipped(path: Path | str, problem: str, warn: bool = True, stacklevel: int = 3) -> None:
    """Name a skipped file once per process, however often its folder is read (a run reads its data for
    training, then for the pictures and the probe): one log line and, with `warn`, a UserWarning."""
    key = (str(path), problem)
    if key in _REPORTED:
        return
    _REPORTED.add(key)
    if warn:
        warnings.warn(f"skipping {problem}", stacklevel=stacklevel + 1)
    log.warning("skipping %s", problem)  # one line naming the file and the problem


def read_each(root: Path, paths: list[Path], read: Callable[[int, Path], object], warn: bool = True) -> FolderRead:
    """`read(i, path)` for every file under `root` (i: its place in `paths`, for per-file seeds).

    A file whose `read` raises ValueError is skipped and named once (`report_skipped`: a log line and, with
    `warn`, a UserWarning pointing at the data set's loader's caller); a long run keeps going.
    """
    out = FolderRead()
    for i, path in enumerate(paths):
        try:
            item = read(i, path)
        except ValueError as err:
            report_skipped(path, str(err), warn, stacklevel=3)
            out.skipped.append(str(path))
            out.reasons.append(str(err))
            continue
        out.items.append(item)
        out.folders.append(path.relative_to(root).parent.as_posix())
    return out


SPLITS = ("train", "test", "all")


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be train, test or all, got {split!r}")


def folder_split(data, root: Path, split: str, test_fraction: float):
    """A folder's whole data set -> its `split`: "all", or with labels a stratified "train"/"test" part
    (`data.subset`); without labels every split but "test" is the whole set."""
    check_split(split)
    if split == "all" or not data.labelled:
        if split == "test" and not data.labelled:
            raise ValueError(f"{root}: a test split needs labels (one sub-folder per class)")
        return data
    train, test = stratified_split(data.labels, test_fraction, seed=0)
    return data.subset(train if split == "train" else test, f"{root}:{split}")


def folder_labels(names: list[str]) -> tuple[list[str] | None, Tensor | None]:
    """Each file's sub-folder ("." at the top) -> (classes, labels [N]) when every file sits in a
    sub-folder, else (None, None): the data set is unlabelled."""
    if not names or any(n == "." for n in names):
        return None, None
    classes = sorted(set(names))
    return classes, torch.tensor([classes.index(n) for n in names])


def stratified_split(labels: Tensor, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices (train, test) with each class split at `test_fraction`, fixed by `seed`."""
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in labels.unique():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values
