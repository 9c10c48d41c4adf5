"""Sequences of segment embeddings (LV-MAE, PAPERS.md row 14): [T,D] per sample, the built-in `digit-sequences`,
folders of `.npy` [T,D] marked by an `embed.json` (what `anymae embed` writes), and the `embeddings` modality.

The transform standardises every feature with the training set's mean and std and resamples the sequence to the
model's length (a random 80-100% window for pretraining, the whole sequence otherwise).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .builtin import balanced_labels, builtin
from .datasets import SeededSamples, check_split, folder_files, folder_labels, folder_split, read_each
from .modality import Modality, register_modality

EMBEDDING_SUFFIXES = (".npy",)


class EmbeddingSequenceDataset(SeededSamples):
    """Embedding sequences (a list of [T_i,D] or a tensor [M,T,D]) and labels [M]; items (sequence, label, index)."""

    store = "sequences"
    modality = "embeddings"

    def __init__(self, sequences, labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "embeddings"):
        dims = {int(s.shape[-1]) for s in sequences}
        for i, s in enumerate(sequences):
            if s.ndim != 2 or s.shape[0] < 2:
                raise ValueError(f"{name}: sequence {i} should be [T>=2,D], got shape {tuple(s.shape)}")
        if len(dims) > 1:
            raise ValueError(f"{name}: sequences have different embedding widths {sorted(dims)}")
        super().__init__(len(sequences), labels, transform, seed, classes, name)
        self.sequences = sequences

    @property
    def dim(self) -> int:
        return int(self.sequences[0].shape[-1])

    def __len__(self) -> int:
        return len(self.sequences)

    def pixels(self, index: int) -> Tensor:
        return self.sequences[index].float()


# ---------------------------------------------------------------- files
def read_embedding_sequence(path: str | Path) -> np.ndarray:
    """One `.npy` [T,D] -> float32; ValueError naming the file when unreadable, not 2-D, under 2 rows, or NaN/Inf."""
    path = Path(path)
    try:
        seq = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read the array ({err})") from None
    if seq.ndim != 2 or seq.shape[0] < 2 or seq.shape[1] < 1:
        raise ValueError(f"{path}: expected an embedding sequence [T>=2,D], got shape {seq.shape}")
    if not np.isfinite(seq).all():
        raise ValueError(f"{path}: holds NaN or Inf values")
    return seq.astype(np.float32)


MARKER = "embed.json"


def is_embedding_file(path: Path) -> bool:
    """A `.npy` holding a 2-D array [T,D] under a folder marked by an `embed.json` (what `anymae embed` writes; `{}`
    will do for other files): a 2-D array alone may be a grey image or a depth map."""
    if not any((p / MARKER).exists() for p in path.parents):
        return False
    try:
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    except (OSError, ValueError):
        return False
    return len(shape) == 2


def load_embedding_folder(root: str | Path, image_size=None, channels=None, split: str = "all",
                          test_fraction: float = 0.3) -> EmbeddingSequenceDataset:
    """Every `.npy` [T,D] under `root` (recursive); class = sub-folder name when every file has one. Files that
    cannot be read, or whose width differs from the first readable file's, are skipped and named once."""
    root = Path(root)
    check_split(split)
    paths = folder_files(root, EMBEDDING_SUFFIXES, "embedding-sequence")
    width: list[int] = []

    def read(i: int, path: Path) -> Tensor:
        seq = read_embedding_sequence(path)
        if width and seq.shape[1] != width[0]:
            raise ValueError(f"{path}: embeddings of width {seq.shape[1]}, the folder's first file has {width[0]}")
        width.append(seq.shape[1])
        return torch.from_numpy(seq)

    files = read_each(root, paths, read)
    if not files.items:
        raise ValueError(f"{root}: none of the {len(paths)} .npy files is an embedding sequence "
                         f"({'; '.join(files.reasons[:3])})")
    classes, labels = folder_labels(files.folders)
    data = EmbeddingSequenceDataset(files.items, labels, classes=classes, name=str(root))
    data.skipped = files.skipped
    return folder_split(data, root, split, test_fraction)


# ---------------------------------------------------------------- built-in: digit-sequences
ORDERS = [(a, b) for a in range(3) for b in range(3) if a != b]             # (first half, second half) motion axes
AXES = ("horizontal", "diagonal", "vertical")
ORDER_CLASSES = [f"{AXES[a]}-then-{AXES[b]}" for a, b in ORDERS]


def clip_descriptor(clips: Tensor) -> Tensor:
    """Clips [M,1,F,H,W] (uint8, or float in [0,1]) -> fixed segment embeddings [M,128]: the mean frame and the mean
    absolute frame difference (the trail motion leaves), each average-pooled to 8 x 8."""
    x = clips.float()[:, 0] / (255.0 if clips.dtype == torch.uint8 else 1.0)          # [M,F,H,W]
    mean = torch.nn.functional.adaptive_avg_pool2d(x.mean(1, keepdim=True), 8).flatten(1)
    trail = torch.nn.functional.adaptive_avg_pool2d((x[:, 1:] - x[:, :-1]).abs().mean(1, keepdim=True), 8)
    return torch.cat([mean, 4 * trail.flatten(1)], dim=1)


@lru_cache(maxsize=2)
def _digit_sequences_split(split: str, count: int, length: int, segment_frames: int = 8) -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits
    from .datasets import stratified_split
    from .video import render_moving_digits
    d = load_digits()
    train, test = stratified_split(torch.as_tensor(d.target), 0.3, seed=0)     # a digit image is in one split only
    pool = (train if split == "train" else test).numpy()
    rng = np.random.default_rng({"train": 51, "test": 52}[split])
    labels = balanced_labels(count, len(ORDERS), rng)
    half = (length // 2) * segment_frames
    out = []
    for chunk in range(0, count, 100):                                         # 100 long videos at a time
        part = labels[chunk:chunk + 100]
        n = len(part)
        digits = d.images[rng.choice(pool, size=(n, 2))] / 16.0                 # the same two digits all video long
        first = render_moving_digits(digits, np.array([ORDERS[y][0] for y in part]), 32, half, rng)
        second = render_moving_digits(digits, np.array([ORDERS[y][1] for y in part]), 32,
                                      length * segment_frames - half, rng)
        video = np.concatenate([first, second], axis=2)                        # [n,1,length*segment_frames,32,32]
        pieces = video.reshape(n, 1, length, segment_frames, 32, 32).transpose(0, 2, 1, 3, 4, 5)
        out.append(clip_descriptor(torch.from_numpy(pieces.reshape(n * length, 1, segment_frames, 32, 32)))
                   .reshape(n, length, -1))
    return torch.cat(out), torch.as_tensor(labels)


@builtin("digit-sequences")
def digit_sequences(split: str = "train", image_size=None, seed: int = 0, train_count: int = 1200,
                    test_count: int = 600, length: int = 16) -> EmbeddingSequenceDataset:
    """Long videos of two real digits bouncing (`moving-digits`' renderer, 16 segments of 8 frames, 32 px) as
    sequences of 16 segment embeddings from a fixed descriptor (mean frame + frame-difference trail, 128 values).
    The label is a property of the whole video: the motion axis of its first half, then of its second half (6
    ordered pairs of horizontal / diagonal / vertical). Averaging the segments cannot tell A-then-B from B-then-A."""
    check_split(split)
    if split == "all":
        a, b = digit_sequences("train"), digit_sequences("test")
        return EmbeddingSequenceDataset(torch.cat([a.sequences, b.sequences]), torch.cat([a.labels, b.labels]),
                                        classes=list(ORDER_CLASSES), name="digit-sequences:all")
    seqs, labels = _digit_sequences_split(split, train_count if split == "train" else test_count, length)
    return EmbeddingSequenceDataset(seqs, labels, classes=list(ORDER_CLASSES), name=f"digit-sequences:{split}")


# ---------------------------------------------------------------- the modality
def resample_rows(seq: Tensor, length: int) -> Tensor:
    """[T,D] -> [length,D] by linear interpolation over T."""
    x = torch.nn.functional.interpolate(seq.T[None], size=length, mode="linear", align_corners=True)
    return x[0].T


class EmbeddingTransform:
    """[T,D] -> [length,D] standardised by (mean, std) [D]; with `augment`, a random window of 80-100% of T."""

    def __init__(self, length: int, mean, std, augment: bool = False):
        self.length, self.augment = length, augment
        self.mean, self.std = torch.as_tensor(mean).float(), torch.as_tensor(std).float()

    def __call__(self, seq: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.augment and generator is not None:
            t = seq.shape[0]
            size = max(2, int(round(t * (0.8 + 0.2 * float(torch.rand(1, generator=generator))))))
            start = int(torch.randint(0, t - size + 1, (1,), generator=generator))
            seq = seq[start:start + size]
        return resample_rows((seq.float() - self.mean) / self.std, self.length)

    def invert(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean


@register_modality
class EmbeddingsModality(Modality):
    """Embedding sequences [T,D] (LV-MAE, row 14): the data's width D is given to the recipe (`in_dim`); every
    feature is standardised with the training set's statistics."""

    name = "embeddings"

    def configure(self, config, data, args: dict) -> None:
        config.recipe_args.setdefault("in_dim", data.dim)

    def stats(self, dataset):
        rows = torch.cat([dataset.pixels(i) for i in range(len(dataset))])
        return rows.mean(0).tolist(), rows.std(0).clamp_min(1e-6).tolist()

    def pretrain_transform(self, model, config):
        return EmbeddingTransform(model.tokenizer.length, config.mean, config.std, augment=True)

    def eval_transform(self, model, config):
        return EmbeddingTransform(model.tokenizer.length, config.mean, config.std)
