"""The audio-visual modality (HiCMAE, PAPERS.md row 16): clips with their soundtrack, as samples
{"video": [C,T,H,W], "audio": [S]}; the built-in `talking-digits`, and folders of video files with an audio
track (PyAV reads both).

A stored sample is a whole video [C,F,H,W] and its whole waveform [S] at the model's rate; the transforms cut
the model's T frames and S samples at one shared relative start (a random one for pretraining, the middle
otherwise), so the sound stays with its frames when both span the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .audio import SOUND_CLASSES, note_resampled, read_audio, synth_sound
from .builtin import balanced_labels, builtin
from .datasets import SeededSamples, check_split, folder_files, folder_labels, folder_split, read_each, stratified_split
from .modality import Modality, register_modality
from .transforms import crop_box
from .video import VIDEO_SUFFIXES, bounce, read_video, resize_frames, video_stats


@dataclass(frozen=True)
class AudioVisualSize:
    """What an audio-visual model takes: `frames` frames of `frame_size` with `channels`, and `num_samples`
    waveform samples at `sample_rate` (passed to the loaders as their `image_size`)."""

    frame_size: tuple[int, int]
    frames: int
    channels: int
    sample_rate: int
    num_samples: int


def audiovisual_size(args: dict) -> AudioVisualSize:
    """An audio-visual recipe's arguments (recipes/hicmae.py) -> its sample size, before the model exists."""
    side = args["image_size"]
    frame = (side, side) if isinstance(side, int) else tuple(side)
    return AudioVisualSize(frame, int(args["frames"]), int(args.get("channels") or 1), int(args["sample_rate"]),
                           int(args["hop"]) * (int(args["audio_frames"]) - 1))


def size_of(image_size) -> AudioVisualSize:
    """The loaders' `image_size` -> an AudioVisualSize (a plain frame size gets `talking-digits`' defaults)."""
    if isinstance(image_size, AudioVisualSize):
        return image_size
    side = image_size if isinstance(image_size, int) and image_size < 1000 else 32
    return AudioVisualSize((side, side), 8, 1, 8000, 80 * 95)


# ---------------------------------------------------------------- data set
class AudioVisualDataset(SeededSamples):
    """Clips: a list of (video uint8 or float [C,F,H,W], waveform [S] at `sample_rate`), labels [M].
    Items ({"video": [C,F,H,W] in [0,1], "audio": [S]} through the transform, label, index)."""

    store = "clips"
    modality = "audiovisual"

    def __init__(self, clips: list, labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "audiovisual", sample_rate: int = 8000):
        for i, (video, wave) in enumerate(clips):
            if video.ndim != 4 or wave.ndim != 1 or len(wave) == 0:
                raise ValueError(f"{name}: clip {i} should be a video [C,F,H,W] and a waveform [S], got "
                                 f"{tuple(video.shape)} and {tuple(wave.shape)}")
        super().__init__(len(clips), labels, transform, seed, classes, name)
        self.clips, self.sample_rate = list(clips), sample_rate

    def _rebuilt(self, samples, labels, transform, seed, name):
        out = type(self)(samples, labels, transform, seed, self.classes, name, self.sample_rate)
        out.skipped = self.skipped
        return out

    @property
    def channels(self) -> int:
        return int(self.clips[0][0].shape[0])

    @property
    def names(self) -> list[str]:
        return ["video", "audio"]

    def __len__(self) -> int:
        return len(self.clips)

    def video(self, index: int) -> Tensor:
        v = self.clips[index][0]
        return v.float() / 255.0 if v.dtype == torch.uint8 else v.float()

    def pixels(self, index: int) -> dict[str, Tensor]:
        return {"video": self.video(index), "audio": self.clips[index][1].float()}


# ---------------------------------------------------------------- transforms
def start_at(available: int, length: int, share: float) -> int:
    """First index of a window of `length` at relative position `share` in [0,1] of the room left."""
    return int(round(max(0, available - length) * share))


class AudioVisualTransform:
    """{"video": [C,F,H,W], "audio": [S]} -> the model's {"video": [C,T,H,W] normalised, "audio": [num_samples]}.

    With `augment`: one random relative start for both (so the sound stays with its frames), a random resized
    crop of the frames (no flip: it would reverse motion) and a random gain (-6..+6 dB). Otherwise the middle.
    Frames are taken `stride` apart; short videos repeat their last frame, short waves are zero-padded.
    """

    def __init__(self, size: AudioVisualSize, mean, std, stride: int = 1, augment: bool = False,
                 scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3)):
        self.size, self.stride, self.augment, self.scale, self.ratio = size, stride, augment, tuple(scale), ratio
        self.sample_rate = size.sample_rate
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1, 1)

    def __call__(self, sample: dict, generator: torch.Generator | None = None) -> dict:
        video, wave = sample["video"], sample["audio"]
        random = self.augment and generator is not None
        share = float(torch.rand(1, generator=generator)) if random else 0.5
        span = (self.size.frames - 1) * self.stride + 1
        first = start_at(video.shape[1], span, share)
        frames = (first + torch.arange(self.size.frames) * self.stride).clamp(max=video.shape[1] - 1)
        video = video[:, frames]
        if random:
            top, left, h, w = crop_box(video.shape[-2], video.shape[-1], self.scale, self.ratio, generator)
            video = video[..., top:top + h, left:left + w]
        video = (resize_frames(video, self.size.frame_size) - self.mean) / self.std
        n = self.size.num_samples
        begin = start_at(len(wave), n, share)
        wave = torch.nn.functional.pad(wave[begin:begin + n], (0, max(0, n - len(wave[begin:begin + n]))))
        if random:
            wave = wave * 10 ** ((12 * float(torch.rand(1, generator=generator)) - 6) / 20)
        return {"video": video, "audio": wave}

    def invert_video(self, x: Tensor) -> Tensor:
        """normalised [...,C,T,H,W] -> [0,1] pixels."""
        return (x * self.std.to(x) + self.mean.to(x)).clamp(0, 1)


# ---------------------------------------------------------------- built-in: talking digits
MOTIFS = [(0, 0, 0), (0, 4, 7), (7, 4, 0), (0, 7, 0), (0, 12, 12), (12, 0, 12), (0, -5, 0), (0, 3, -4),
          (0, 2, 4), (5, 0, -7)]  # semitones above the clip's base pitch: the three notes that "say" each digit


def digit_call(digit: int, rate: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """The soundtrack of `digit`: its three-note motif (MOTIFS) at a random base pitch (180-500 Hz), tempo and
    timbre (1-4 harmonics), among nuisance sounds (one of `sounds`' classes at -12..-3 dB relative, and white
    noise at 5-25 dB SNR) -> float32 [samples]."""
    t = np.arange(samples) / rate
    base = 180.0 * 2 ** rng.uniform(0, 1.5)
    harmonics = int(rng.integers(1, 5))
    start, end = rng.uniform(0.0, 0.15), rng.uniform(0.8, 1.0)
    edges = np.linspace(start, end, 4) * samples / rate
    x = np.zeros(samples)
    for k, semitones in enumerate(MOTIFS[digit]):
        on = (t >= edges[k]) & (t < edges[k + 1] - 0.02)
        f = base * 2 ** (semitones / 12)
        env = np.sin(np.pi * np.clip((t - edges[k]) / max(edges[k + 1] - edges[k] - 0.02, 1e-3), 0, 1)) * on
        x += env * sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, harmonics + 1))
    x /= np.abs(x).max() + 1e-9
    nuisance = synth_sound(int(rng.integers(len(SOUND_CLASSES))), rate, samples / rate, rng)[:samples]
    x = x + nuisance / (np.abs(nuisance).max() + 1e-9) * 10 ** (rng.uniform(-12, -3) / 20)
    noise = rng.standard_normal(samples) * np.sqrt(np.mean(x ** 2) / 10 ** (rng.uniform(5, 25) / 10))
    x = x + noise
    return (0.9 * x / (np.abs(x).max() + 1e-9) * 10 ** (rng.uniform(-12, 0) / 20)).astype(np.float32)


def render_talking_digit(images: np.ndarray, side: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """One digit per clip, filling most of the frame (5/8 of its side, as a face crop fills a talking-head clip)
    and drifting in a random direction at 2-4% of the frame a step, bouncing off the walls: images [N,8,8] in
    [0,1] -> clips [N,1,F,side,side] in [0,1]."""
    n = len(images)
    size = max(4, int(round(side * 5 / 8)))
    glyphs = torch.nn.functional.interpolate(torch.from_numpy(images).float()[:, None], size=(size, size),
                                             mode="bilinear", align_corners=False)[:, 0].clamp(0, 1).numpy()
    room = side - size
    angle = rng.uniform(0, 2 * np.pi, size=n)
    velocity = rng.uniform(0.02, 0.04, size=n)[:, None] * side * np.stack([np.sin(angle), np.cos(angle)], 1)
    where = np.round(bounce(rng.uniform(0, room, size=(n, 2)), velocity, frames, room)).astype(int)   # [F,N,2]
    out = np.zeros((n, frames, side, side), dtype=np.float32)
    clip, offset = np.arange(n)[:, None, None], np.arange(size)
    for f in range(frames):
        rows = (where[f, :, 0][:, None] + offset)[:, :, None]
        cols = (where[f, :, 1][:, None] + offset)[:, None, :]
        out[clip, f, rows, cols] = glyphs
    return out[:, None]


@lru_cache(maxsize=4)
def _talking_digits_split(split: str, side: int, frames: int, rate: int, samples: int, count: int):
    from sklearn.datasets import load_digits
    d = load_digits()
    train, test = stratified_split(torch.as_tensor(d.target), 0.3, seed=0)  # a digit image is in one split only
    pool = (train if split == "train" else test).numpy()
    rng = np.random.default_rng({"train": 41, "test": 42}[split])
    labels = balanced_labels(count, 10, rng)
    images = np.stack([d.images[rng.choice(pool[d.target[pool] == k])] / 16.0 for k in labels])
    clips = render_talking_digit(images, side, frames, rng)
    videos = torch.from_numpy(np.round(clips * 255).astype(np.uint8))
    waves = [torch.from_numpy(digit_call(int(k), rate, samples, rng)) for k in labels]
    return [(videos[i], waves[i]) for i in range(count)], torch.as_tensor(labels)


@builtin("talking-digits")
def talking_digits(split: str = "train", image_size=None, seed: int = 0, train_count: int = 1200,
                   test_count: int = 600) -> AudioVisualDataset:
    """Clips of one real scikit-learn digit (5/8 of the frame) drifting in the frame with a soundtrack that "says" it: a
    three-note motif per digit (random pitch, tempo, timbre) among nuisance sounds and noise. 10 classes (the
    digit), both modalities carry the class; train and test use different digit images; fixed sets, made at
    the model's frames, frame size and sample rate (8 x 32 x 32 grey frames and 0.95 s at 8 kHz by default)."""
    check_split(split)
    size = size_of(image_size)
    if split == "all":
        a, b = talking_digits("train", size), talking_digits("test", size)
        return AudioVisualDataset(a.clips + b.clips, torch.cat([a.labels, b.labels]), classes=a.classes,
                                  name="talking-digits:all", sample_rate=size.sample_rate)
    clips, labels = _talking_digits_split(split, size.frame_size[0], size.frames, size.sample_rate, size.num_samples,
                                          train_count if split == "train" else test_count)
    return AudioVisualDataset(clips, labels, classes=[str(i) for i in range(10)], name=f"talking-digits:{split}",
                              sample_rate=size.sample_rate)


# ---------------------------------------------------------------- folders of video files with sound
def read_audiovisual(path: Path, size: AudioVisualSize, max_frames: int = 128,
                     rates: list | None = None) -> tuple[Tensor, Tensor]:
    """One video file with an audio track -> (uint8 video [C,F,H,W] at twice the frame size, waveform [S] at the
    model's rate); ValueError naming the file when either stream is missing, corrupt, silent or empty. `rates`,
    when given, gets the file's own audio rate appended."""
    h, w = size.frame_size
    video = read_video(path, size.channels, (2 * h, 2 * w), max_frames)
    wave = read_audio(path, size.sample_rate, rates=rates)            # PyAV for containers; resampled, logged
    return video, torch.from_numpy(wave)


def load_audiovisual_folder(root: str | Path, image_size=None, channels: int | None = None, split: str = "all",
                            test_fraction: float = 0.3, max_frames: int = 128) -> AudioVisualDataset:
    """Every video file under `root` (recursive) with its audio track; class = sub-folder name when every file
    has one. Files without a readable video or audio stream are skipped, each named once."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder (nor a built-in data set name)")
    size = size_of(image_size)
    if channels:
        size = AudioVisualSize(size.frame_size, size.frames, channels, size.sample_rate, size.num_samples)
    paths = folder_files(root, VIDEO_SUFFIXES, "video")
    rates: list[int] = []
    files = read_each(root, paths, lambda _, path: read_audiovisual(path, size, max_frames, rates))
    if not files.items:
        raise ValueError(f"{root}: none of the {len(paths)} video files had a readable video and audio track")
    note_resampled(root, rates, size.sample_rate, "video files' soundtracks")
    classes, labels = folder_labels(files.folders)
    data = AudioVisualDataset(files.items, labels, classes=classes, name=str(root), sample_rate=size.sample_rate)
    data.skipped = files.skipped
    return folder_split(data, root, split, test_fraction)


# ---------------------------------------------------------------- modality
class _Videos:
    """The video half of an AudioVisualDataset, as `video_stats` reads it."""

    def __init__(self, data: AudioVisualDataset):
        self.data, self.channels = data, data.channels

    def __len__(self) -> int:
        return len(self.data)

    def pixels(self, index: int) -> Tensor:
        return self.data.video(index)


@register_modality
class AudioVisualModality(Modality):
    """{"video", "audio"} clips for HiCMAE: the tokenizer's video and audio parts set the sizes."""

    name = "audiovisual"

    def sample_size(self, model, config):
        parts = getattr(model.tokenizer, "parts", {})
        if "video" not in parts or "audio" not in parts:
            raise ValueError(f"{getattr(config, 'data', 'this data')}: audio-visual data (clips with their sound) needs "
                             f"an audio-visual recipe such as hicmae_tiny; recipe {getattr(config, 'recipe', '?')} "
                             "takes another modality")
        video, audio = parts["video"], parts["audio"]
        return AudioVisualSize(tuple(video.image_size), video.frames, video.channels, audio.sample_rate,
                               audio.num_samples)

    def stats(self, dataset):
        mean, std = video_stats(_Videos(dataset))
        return [round(float(m), 5) for m in mean], [round(float(s), 5) for s in std]

    def pretrain_transform(self, model, config):
        return AudioVisualTransform(self.sample_size(model, config), config.mean, config.std,
                                    model.tokenizer.parts["video"].frame_stride, augment=True,
                                    scale=tuple(config.crop_scale))

    def eval_transform(self, model, config):
        return AudioVisualTransform(self.sample_size(model, config), config.mean, config.std,
                                    model.tokenizer.parts["video"].frame_stride)
