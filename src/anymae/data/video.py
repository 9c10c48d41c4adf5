"""The video modality (VideoMAE, row 12; VideoMAE V2, row 9): clips [C,T,H,W], built-in moving digits,
folders of video files decoded with PyAV, seeded clip sampling and crops.

A video sample is a whole decoded video `[C,F,H,W]` (F frames); the transforms take T frames at the
model's stride from it (a random start for pretraining, the middle for probes) and crop every frame
with the same box, giving the clip `[C,T,H,W]` the `TubeletTokenizer` reads.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .builtin import balanced_labels, builtin
from .datasets import (SeededSamples, check_split, folder_files, folder_labels, folder_split, read_each,
                       stratified_split)
from .modality import Modality, register_modality
from .transforms import crop_box, resize

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".gif", ".mov", ".mkv")


# ---------------------------------------------------------------- data set
class TensorVideoDataset(SeededSamples):
    """In-memory videos, each uint8 or float `[C,F,H,W]` (F and H x W may differ between videos), labels [N].

    Items are (clip, label, index) like `TensorImageDataset`: `epoch * N + i` indices (EpochSampler)
    pick sample i with the augmentations of that epoch; (seed, epoch, index) fixes every draw.
    """

    store = "videos"
    modality = "video"

    def __init__(self, videos: list[Tensor] | Tensor, labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "videos"):
        for i, v in enumerate(videos):
            if v.ndim != 4:
                raise ValueError(f"{name}: video {i} should be [C,F,H,W], got shape {tuple(v.shape)}")
        super().__init__(len(videos), labels, transform, seed, classes, name)
        self.videos = videos

    @property
    def channels(self) -> int:
        return int(self.videos[0].shape[0])

    def __len__(self) -> int:
        return len(self.videos)

    def pixels(self, index: int) -> Tensor:
        """The whole video `[C,F,H,W]` in [0,1]."""
        v = self.videos[index]
        return v.float() / 255.0 if v.dtype == torch.uint8 else v.float()


# ---------------------------------------------------------------- transforms
def frame_indices(available: int, frames: int, stride: int, generator: torch.Generator | None) -> Tensor:
    """T frame indices `stride` apart from a video of `available` frames: a random start drawn from
    `generator`, or the centred clip when it is None; short videos repeat their last frame."""
    span = (frames - 1) * stride + 1
    room = max(0, available - span)
    if generator is None:
        start = room // 2
    else:
        start = int(torch.randint(0, room + 1, (1,), generator=generator))
    return (start + torch.arange(frames) * stride).clamp(max=available - 1)


def resize_frames(x: Tensor, size: tuple[int, int]) -> Tensor:
    """x [C,T,H,W] -> [C,T,size] (each frame bilinear, antialiased when shrinking)."""
    c, t = x.shape[:2]
    return resize(x.reshape(c * t, *x.shape[2:]), size).reshape(c, t, *size)


class VideoPretrainTransform:
    """VideoMAE pretraining: T frames at `stride` from a random start, one random resized crop for all
    frames (scale, ratio as MAE's), resized to `size`, normalised. No flip: it would reverse motion."""

    def __init__(self, frames: int, stride: int, size: tuple[int, int], mean: Tensor, std: Tensor,
                 scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3)):
        self.frames, self.stride, self.size = frames, stride, tuple(size)
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.mean, self.std = mean.view(-1, 1, 1, 1), std.view(-1, 1, 1, 1)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """x [C,F,H,W] in [0,1] -> clip [C,T,size] normalised."""
        x = x[:, frame_indices(x.shape[1], self.frames, self.stride, generator)]
        top, left, h, w = crop_box(x.shape[-2], x.shape[-1], self.scale, self.ratio, generator)
        x = resize_frames(x[..., top:top + h, left:left + w], self.size)
        return (x - self.mean) / self.std


class VideoEvalTransform:
    """The centred T-frame clip at `stride`, whole frames resized to `size`, normalised (probes, pictures)."""

    def __init__(self, frames: int, stride: int, size: tuple[int, int], mean: Tensor, std: Tensor):
        self.frames, self.stride, self.size = frames, stride, tuple(size)
        self.mean, self.std = mean.view(-1, 1, 1, 1), std.view(-1, 1, 1, 1)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        x = x[:, frame_indices(x.shape[1], self.frames, self.stride, None)]
        return (resize_frames(x, self.size) - self.mean) / self.std

    def invert(self, x: Tensor) -> Tensor:
        """normalised [...,C,T,H,W] -> [0,1] pixels."""
        return (x * self.std.to(x) + self.mean.to(x)).clamp(0, 1)


# ---------------------------------------------------------------- built-in: moving digits
MOTION_CLASSES = ["horizontal", "diagonal", "vertical"]


def bounce(start: np.ndarray, velocity: np.ndarray, frames: int, room: float) -> np.ndarray:
    """Positions [F,...] of points moving at `velocity` per frame in [0, room], reflected at the walls."""
    path = start[None] + velocity[None] * np.arange(frames).reshape(-1, *([1] * start.ndim))
    path = np.mod(path, 2 * room)
    return np.where(path > room, 2 * room - path, path)


def render_moving_digits(digits: np.ndarray, axes: np.ndarray, side: int, frames: int,
                         rng: np.random.Generator) -> np.ndarray:
    """Two digits per clip, each bouncing off the walls: [N,1,F,side,side] in [0,1].

    digits [N,2,8,8] in [0,1]; axes [N] the motion class (0 horizontal, 1 diagonal, 2 vertical).
    Both digits of a clip travel at one angle from the horizontal (class centre +- 10 degrees) and one
    speed (2.5-4.5% of the frame a step), with their own random signs and start points.
    """
    n = len(digits)
    size = max(4, int(round(side * 3 / 8)))
    glyphs = torch.nn.functional.interpolate(torch.from_numpy(digits).float().reshape(n * 2, 1, 8, 8),
                                             size=(size, size), mode="bilinear", align_corners=False)
    glyphs = glyphs.clamp(0, 1).reshape(n, 2, size, size).numpy()
    room = side - size
    angle = np.deg2rad(axes * 45.0 + rng.uniform(-10, 10, size=n))
    speed = rng.uniform(0.025, 0.045, size=n) * side
    signs = rng.choice([-1.0, 1.0], size=(n, 2, 2))
    velocity = speed[:, None, None] * np.stack([np.sin(angle), np.cos(angle)], 1)[:, None, :] * signs  # (y, x)
    start = rng.uniform(0, room, size=(n, 2, 2))
    where = np.round(bounce(start, velocity, frames, room)).astype(int)                              # [F,N,2,2]
    out = np.zeros((n, frames, side, side), dtype=np.float32)
    clip, offset = np.arange(n)[:, None, None], np.arange(size)
    for f in range(frames):
        for d in range(2):
            rows = (where[f, :, d, 0][:, None] + offset)[:, :, None]                            # [N,s,1]
            cols = (where[f, :, d, 1][:, None] + offset)[:, None, :]                            # [N,1,s]
            out[clip, f, rows, cols] = np.maximum(out[clip, f, rows, cols], glyphs[:, d])
    return out[:, None]


@lru_cache(maxsize=4)
def _moving_digits_split(split: str, side: int, count: int, frames: int) -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits
    d = load_digits()
    train, test = stratified_split(torch.as_tensor(d.target), 0.3, seed=0)  # a digit is in one split only
    pool = (train if split == "train" else test).numpy()
    rng = np.random.default_rng({"train": 21, "test": 22}[split])
    axes = balanced_labels(count, len(MOTION_CLASSES), rng)
    digits = d.images[rng.choice(pool, size=(count, 2))] / 16.0
    clips = render_moving_digits(digits, axes, side, frames, rng)
    return torch.from_numpy(np.round(clips * 255).astype(np.uint8)), torch.as_tensor(axes)


@builtin("moving-digits")
def moving_digits(split: str = "train", image_size=32, seed: int = 0, train_count: int = 1200,
                  test_count: int = 600, frames: int = 20) -> TensorVideoDataset:
    """Clips of two real scikit-learn digits bouncing around a grey frame (20 frames, `image_size` square),
    labelled by the axis they travel along: horizontal, diagonal or vertical (3 classes).

    The axis survives bounces (a wall flips one velocity sign, not its size), so the label holds over the
    whole clip, and no single frame shows it: a probe can learn it only from motion. Train and test
    clips use different digit images (scikit-learn's digits split 70/30); both sets are fixed.
    """
    if split == "all":
        a, b = moving_digits("train", image_size), moving_digits("test", image_size)
        return TensorVideoDataset(torch.cat([a.videos, b.videos]), torch.cat([a.labels, b.labels]),
                                  classes=a.classes, name="moving-digits:all")
    check_split(split)
    side = image_size if isinstance(image_size, int) else int(image_size[0])
    videos, labels = _moving_digits_split(split, side, train_count if split == "train" else test_count, frames)
    return TensorVideoDataset(videos, labels, classes=list(MOTION_CLASSES), name=f"moving-digits:{split}")


# ---------------------------------------------------------------- folders of video files
def read_video(path: str | Path, channels: int = 3, size: tuple[int, int] | None = None,
               max_frames: int = 128) -> Tensor:
    """Decode (up to `max_frames` of) a video file with PyAV -> uint8 [C,F,H,W], every frame resized to
    `size` (default: the first frame's size).

    Raises ValueError naming the file when it cannot be decoded or holds no video frames.
    """
    import av
    source = path if hasattr(path, "read") else str(path)  # a file object: a shard's bytes
    path = Path(path) if not hasattr(path, "read") else path
    frames = []
    try:
        with av.open(source) as container:
            if not container.streams.video:
                raise ValueError(f"{path}: no video stream")
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                img = frame.to_ndarray(format="gray" if channels == 1 else "rgb24")
                x = torch.from_numpy(np.ascontiguousarray(img)).float().div(255.0)
                x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)
                size = size or tuple(x.shape[-2:])  # frames that change size follow the first one
                x = resize(x, size)
                frames.append((x * 255).round().clamp(0, 255).to(torch.uint8))
                if len(frames) >= max_frames:
                    break
    except (av.FFmpegError, OSError, ValueError, RuntimeError, IndexError, TypeError) as err:
        if isinstance(err, ValueError) and str(err).startswith(f"{path}:"):
            raise  # ours, already naming the file
        raise ValueError(f"{path}: cannot decode video ({err})") from None
    if not frames:
        raise ValueError(f"{path}: no frames could be decoded")
    return torch.stack(frames, dim=1)


def load_video_folder(root: str | Path, image_size=32, channels: int | None = None, split: str = "all",
                      test_fraction: float = 0.3, max_frames: int = 128) -> TensorVideoDataset:
    """Decode every video under `root` once into memory (up to `max_frames` frames each).

    Frames are cached at twice the model's size (at most 256 px a side) so random resized crops keep
    detail. Sub-folder names become labels when every file has one (70/30 stratified split).
    Files that fail to decode are skipped with a warning naming each, counted in `dataset.skipped`.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder (nor a built-in data set name)")
    paths = folder_files(root, VIDEO_SUFFIXES, "video")
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    cache = (min(2 * h, max(h, 256)), min(2 * w, max(w, 256)))
    channels = channels or 3
    files = read_each(root, paths, lambda _, path: read_video(path, channels, cache, max_frames))
    if not files.items:
        raise ValueError(f"{root}: none of the {len(paths)} video files could be decoded")
    classes, labels = folder_labels(files.folders)
    data = TensorVideoDataset(files.items, labels, classes=classes, name=str(root))
    data.skipped = files.skipped
    return folder_split(data, root, split, test_fraction)


# ---------------------------------------------------------------- modality
def video_stats(data, max_videos: int = 256) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std over (up to `max_videos` of) a video data set: [C], [C]."""
    total = torch.zeros(data.channels, dtype=torch.float64)
    square = torch.zeros_like(total)
    count = 0
    for i in range(min(len(data), max_videos)):
        x = data.pixels(i).double()
        total += x.sum(dim=(1, 2, 3))
        square += x.pow(2).sum(dim=(1, 2, 3))
        count += x[0].numel()
    mean = total / count
    std = (square / count - mean.pow(2)).clamp_min(0).sqrt()
    return mean.float(), std.float().clamp_min(1e-3)


@register_modality
class VideoModality(Modality):
    """Clips for VideoMAE recipes: the tokenizer's frames, stride and frame size set the transforms."""

    name = "video"

    def sample_size(self, model, config):
        return tuple(model.tokenizer.image_size)

    def stats(self, dataset):
        mean, std = video_stats(dataset)
        return [round(float(m), 5) for m in mean], [round(float(s), 5) for s in std]

    def pretrain_transform(self, model, config):
        tok = model.tokenizer
        return VideoPretrainTransform(tok.frames, tok.frame_stride, tok.image_size, torch.tensor(config.mean),
                                      torch.tensor(config.std), scale=tuple(config.crop_scale))

    def eval_transform(self, model, config):
        tok = model.tokenizer
        return VideoEvalTransform(tok.frames, tok.frame_stride, tok.image_size, torch.tensor(config.mean),
                                  torch.tensor(config.std))
