"""The audio modality (HiCMAE's audio branch, PAPERS.md row 16): waveforms, the built-in `sounds`, folders
of .wav / .flac / .ogg (soundfile; other containers with an audio track through PyAV), seeded crops.

A sample is a whole mono waveform [S] at the data set's `sample_rate`; the transforms cut the model's
`num_samples` from it (a random window and gain for pretraining, the middle otherwise). Files are read at
their own rate and resampled (polyphase, scipy) to the rate the model asks for, with one log line per file.
"""
from __future__ import annotations

import logging
import warnings
from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .builtin import balanced_labels, builtin
from .datasets import SeededSamples, check_split, folder_files, folder_labels, folder_split, read_each
from .modality import Modality, register_modality

log = logging.getLogger("anymae.data")

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
DEFAULT_RATE = 16000
BUILTIN_RATE = 8000


def rate_of(size) -> int:
    """The sample rate a loader is asked for: `image_size` carries it for audio models (>= 1000 Hz), else 16 kHz."""
    return int(size) if isinstance(size, int) and size >= 1000 else DEFAULT_RATE


# ---------------------------------------------------------------- data set
class AudioDataset(SeededSamples):
    """Mono waveforms (a list of [S_i] or a tensor [M,S]) at `sample_rate`, labels [M]; items (wave, label, index)."""

    store = "waves"
    modality = "audio"
    channels = 1

    def __init__(self, waves, labels: Tensor | None = None, transform=None, seed: int = 0,
                 classes: list[str] | None = None, name: str = "audio", sample_rate: int = DEFAULT_RATE):
        for i, w in enumerate(waves):
            if w.ndim != 1 or len(w) == 0:
                raise ValueError(f"{name}: waveform {i} should be a non-empty [S], got shape {tuple(w.shape)}")
        super().__init__(len(waves), labels, transform, seed, classes, name)
        self.waves, self.sample_rate = waves, sample_rate

    def _rebuilt(self, samples, labels, transform, seed, name):
        out = type(self)(samples, labels, transform, seed, self.classes, name, self.sample_rate)
        out.skipped = self.skipped
        return out

    def __len__(self) -> int:
        return len(self.waves)

    def pixels(self, index: int) -> Tensor:
        """The whole waveform [S] (float, about [-1,1])."""
        return self.waves[index].float()


# ---------------------------------------------------------------- files
def resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """[S] at `rate` -> at `target` (polyphase filter, scipy.signal.resample_poly)."""
    if rate == target:
        return wave
    from scipy.signal import resample_poly
    g = gcd(int(rate), int(target))
    return resample_poly(wave, target // g, rate // g).astype(np.float32)


def _decode_av(path: Path) -> tuple[np.ndarray, int]:
    """Any container with an audio track (PyAV) -> (mono float32 [S], rate)."""
    import av
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError("has no audio track")
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().astype(np.float32) for frame in container.decode(stream)]
        rate = stream.rate
    if not chunks:
        raise ValueError("audio track holds no samples")
    planar = [c if c.shape[0] <= 8 else c.T for c in chunks]           # [channels, n] (packed formats come [1, n*c])
    wave = np.concatenate([c.mean(axis=0) for c in planar])
    return wave, int(rate)


def read_audio(path: str | Path, sample_rate: int = DEFAULT_RATE, min_seconds: float = 0.05,
               rates: list | None = None) -> np.ndarray:
    """One file -> mono float32 [S] at `sample_rate`; ValueError naming the file when it cannot be used.

    .wav / .flac / .ogg through soundfile (multi-channel files averaged to mono); other containers with an
    audio track through PyAV. A file at another rate is resampled (logged); an empty, too short (under
    `min_seconds`), silent or non-finite file is an error (the folder reader skips it). `rates`, when given,
    gets the file's own sample rate appended.
    """
    try:
        import soundfile
    except ImportError:
        raise ValueError("reading audio files needs soundfile: pip install 'anymae[audio]'") from None
    path = Path(path)
    try:
        if path.suffix.lower() in AUDIO_SUFFIXES:
            wave, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
            wave = wave.mean(axis=1)
        else:
            wave, rate = _decode_av(path)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    except Exception as err:  # soundfile / PyAV raise their own types on malformed files
        raise ValueError(f"{path}: cannot read audio ({type(err).__name__}: {' '.join(str(err).split())[:200]})") from None
    if len(wave) < min_seconds * rate:
        raise ValueError(f"{path}: {len(wave)} samples ({len(wave) / rate:.3f} s) is too short (at least {min_seconds} s)")
    if not np.isfinite(wave).all():
        raise ValueError(f"{path}: holds NaN or Inf samples")
    if float(np.abs(wave).max()) < 1e-5:
        raise ValueError(f"{path}: is silent (peak below 1e-5)")
    if rates is not None:
        rates.append(int(rate))
    if rate != sample_rate:
        log.info("%s: resampled from %d Hz to %d Hz", path, rate, sample_rate)
        wave = resample(wave, rate, sample_rate)
    return wave.astype(np.float32)


def note_resampled(root, rates: list[int], rate: int, what: str) -> None:
    """Say once per folder how many of its files' sound was resampled to the model's rate (and from what)."""
    other = sorted({r for r in rates if r != rate})
    if other:
        note = (f"{root}: resampled {sum(r != rate for r in rates)} of {len(rates)} {what} to the model's "
                f"{rate} Hz (they were at {', '.join(map(str, other))} Hz)")
        warnings.warn(note, stacklevel=3)
        log.warning(note)


def load_audio_folder(root: str | Path, image_size=None, channels=None, split: str = "all",
                      test_fraction: float = 0.3) -> AudioDataset:
    """Every .wav / .flac / .ogg under `root` (recursive); class = sub-folder name when every file has one.

    Files are resampled to the model's rate (`image_size` carries it); unreadable, empty, silent files are
    skipped, each named once in a warning (and in `dataset.skipped`).
    """
    root = Path(root)
    check_split(split)
    rate = rate_of(image_size)
    paths = folder_files(root, AUDIO_SUFFIXES, "audio")
    rates: list[int] = []
    files = read_each(root, paths, lambda i, path: torch.from_numpy(read_audio(path, rate, rates=rates)))
    if not files.items:
        raise ValueError(f"{root}: none of the {len(paths)} audio files could be read")
    note_resampled(root, rates, rate, "audio files")
    classes, labels = folder_labels(files.folders)
    data = AudioDataset(files.items, labels, classes=classes, name=str(root), sample_rate=rate)
    data.skipped = files.skipped
    return folder_split(data, root, split, test_fraction)


# ---------------------------------------------------------------- built-in: sounds
SOUND_CLASSES = ["tone", "harmonic", "major-chord", "minor-chord", "chirp-up", "chirp-down", "clicks",
                 "noise-band", "tremolo", "vibrato"]


def _envelope(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A sound that starts and stops inside the clip: random onset, length (40-90%), attack and release."""
    length = int(n * rng.uniform(0.4, 0.9))
    start = rng.integers(0, n - length + 1)
    attack, release = (max(1, int(rate * rng.uniform(0.005, 0.08))) for _ in range(2))
    env = np.zeros(n)
    body = np.ones(length)
    body[:attack] = np.linspace(0, 1, attack)[:length]
    body[-release:] = np.minimum(body[-release:], np.linspace(1, 0, release)[-min(release, length):])
    env[start:start + length] = body
    return env


def _tones(freqs, t: np.ndarray, rng: np.random.Generator, harmonics: int = 1) -> np.ndarray:
    out = np.zeros_like(t)
    for f in freqs:
        for h in range(1, harmonics + 1):
            out += np.sin(2 * np.pi * f * h * t + rng.uniform(0, 2 * np.pi)) / h
    return out


def synth_sound(label: int, rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One clip of class `label` (SOUND_CLASSES) with nuisances: pitch, onset/length/envelope, loudness
    (-20..0 dB), background (white or brown noise, 0-25 dB SNR, sometimes a hum) -> float32 [rate*seconds]."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    f0 = 110.0 * 2 ** rng.uniform(0, 3.5)                        # 110-1245 Hz (rate 8 kHz keeps harmonics < 4 kHz)
    name = SOUND_CLASSES[label]
    if name == "tone":
        x = _tones([f0], t, rng)
    elif name == "harmonic":
        x = _tones([f0 / 2], t, rng, harmonics=6)
    elif name in ("major-chord", "minor-chord"):
        third = 5 / 4 if name == "major-chord" else 6 / 5
        x = _tones([f0, f0 * third, f0 * 1.5], t, rng)
    elif name in ("chirp-up", "chirp-down"):
        lo, hi = f0 / 2, min(f0 * 3, 0.45 * rate)
        a, b = (lo, hi) if name == "chirp-up" else (hi, lo)
        x = np.sin(2 * np.pi * (a * t + (b - a) * t ** 2 / (2 * seconds)))
    elif name == "clicks":
        period = int(rate / rng.uniform(4, 16))
        x = np.zeros(n)
        x[rng.integers(0, period)::period] = 1.0
        x = np.convolve(x, np.exp(-np.arange(int(0.004 * rate)) / (0.001 * rate)), mode="same")
        x *= np.sign(rng.standard_normal(n))
    elif name == "noise-band":
        spec = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1 / rate)
        spec[(freqs < f0) | (freqs > f0 * 1.6)] = 0
        x = np.fft.irfft(spec, n)
    elif name == "tremolo":
        x = _tones([f0], t, rng) * (0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(4, 12) * t))
    else:  # vibrato
        depth, speed = rng.uniform(0.03, 0.08), rng.uniform(4, 8)
        x = np.sin(2 * np.pi * f0 * t + depth * f0 / speed * np.sin(2 * np.pi * speed * t))
    x = x / (np.abs(x).max() + 1e-9) * _envelope(n, rate, rng) * 10 ** (rng.uniform(-20, 0) / 20)
    noise = rng.standard_normal(n)
    if rng.random() < 0.5:                                        # brown noise: mostly low frequencies
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(200) / 200, mode="same")
    signal_power = float(np.mean(x ** 2)) + 1e-12
    noise *= np.sqrt(signal_power / 10 ** (rng.uniform(0, 25) / 10) / (np.mean(noise ** 2) + 1e-12))
    if rng.random() < 0.3:                                        # mains hum
        noise += 0.3 * np.sqrt(signal_power) * np.sin(2 * np.pi * rng.choice([50, 60]) * t)
    return (0.9 * (x + noise) / max(1.0, float(np.abs(x + noise).max()) / 0.9)).astype(np.float32)


@lru_cache(maxsize=4)
def _sounds_split(split: str, count: int, rate: int) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng({"train": 31, "test": 32}[split])
    labels = balanced_labels(count, len(SOUND_CLASSES), rng)
    waves = np.stack([synth_sound(int(label), rate, 1.0, rng) for label in labels])
    return torch.from_numpy(waves), torch.as_tensor(labels)


@builtin("sounds")
def sounds(split: str = "train", image_size=None, seed: int = 0, train_count: int = 1500,
           test_count: int = 600) -> AudioDataset:
    """1-second procedural sounds in 10 classes (tone, harmonic tone, major / minor chord, up / down chirp,
    clicks, band noise, tremolo, vibrato) with random pitch, onset, length, loudness and background noise;
    at the model's sample rate (8 kHz when none is asked); fixed train/test sets."""
    check_split(split)
    rate = rate_of(image_size) if isinstance(image_size, int) and image_size >= 1000 else BUILTIN_RATE
    if split == "all":
        a, b = sounds("train", rate), sounds("test", rate)
        return AudioDataset(torch.cat([a.waves, b.waves]), torch.cat([a.labels, b.labels]),
                            classes=list(SOUND_CLASSES), name="sounds:all", sample_rate=rate)
    waves, labels = _sounds_split(split, train_count if split == "train" else test_count, rate)
    return AudioDataset(waves, labels, classes=list(SOUND_CLASSES), name=f"sounds:{split}", sample_rate=rate)


# ---------------------------------------------------------------- the modality
def window(wave: Tensor, length: int, generator: torch.Generator | None) -> Tensor:
    """[S] -> [length]: a random window (the middle one when `generator` is None); short waves are zero-padded."""
    if len(wave) < length:
        return torch.nn.functional.pad(wave, (0, length - len(wave)))
    room = len(wave) - length
    start = room // 2 if generator is None else int(torch.randint(0, room + 1, (1,), generator=generator))
    return wave[start:start + length]


class AudioTransform:
    """wave [S] -> [num_samples]: with `augment`, a random window and a random gain (-6..+6 dB); else the middle."""

    def __init__(self, num_samples: int, sample_rate: int, augment: bool = False):
        self.num_samples, self.sample_rate, self.augment = num_samples, sample_rate, augment

    def __call__(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if not self.augment or generator is None:
            return window(wave, self.num_samples, None)
        gain = 10 ** ((12 * float(torch.rand(1, generator=generator)) - 6) / 20)
        return window(wave, self.num_samples, generator) * gain

    def invert(self, x: Tensor) -> Tensor:
        return x


@register_modality
class AudioModality(Modality):
    """Mono waveforms (row 16): the model's tokenizer makes the log-mel spectrogram; the sample size passed to
    the loaders is the tokenizer's sample rate."""

    name = "audio"

    def sample_size(self, model, config):
        return audio_tokenizer(model).sample_rate

    def pretrain_transform(self, model, config):
        tok = audio_tokenizer(model)
        return AudioTransform(tok.num_samples, tok.sample_rate, augment=True)

    def eval_transform(self, model, config):
        tok = audio_tokenizer(model)
        return AudioTransform(tok.num_samples, tok.sample_rate)


def audio_tokenizer(model):
    """The model's audio tokenizer (the tokenizer itself, or the `audio` part of a multi-modal one)."""
    tok = model.tokenizer
    return tok.parts["audio"] if hasattr(tok, "parts") and "audio" in tok.parts else tok
