"""Audio (HiCMAE, PAPERS.md row 16; AudioMAE's spectrogram patches): waveform [B,S] -> log-mel spectrogram
[B,1,F,T] -> 2-D patches over (frequency, time) with a 2-D sin-cos position.

The spectrogram is computed in the tokenizer (torch.stft with a Hann window, a triangular HTK-mel filterbank,
log power), so a model takes raw waveforms and a run needs no audio library at training time; targets and
pictures read the normalised log-mel patches (`values`), and `unpatchify` gives the spectrogram back.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .base import Tokenizer, Tokens, check_finite
from .patching import patch_embedding, patchify_image, unpatchify_image
from .position import GridPosition


def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f/700)."""
    return 2595.0 * math.log10(1.0 + f / 700.0) if isinstance(f, (int, float)) else 2595.0 * torch.log10(1.0 + f / 700.0)


def mel_to_hz(m: Tensor) -> Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_fft: int, mels: int, sample_rate: int, fmin: float = 20.0, fmax: float | None = None) -> Tensor:
    """[n_fft//2+1, mels] triangular filters, centres equally spaced on the HTK mel scale (as Kaldi's fbank,
    which AudioMAE's features use), each peaking at 1."""
    fmax = fmax or sample_rate / 2
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"mel band {fmin}-{fmax} Hz does not fit a sample rate of {sample_rate} Hz")
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(hz_to_mel(fmin), hz_to_mel(fmax), mels + 2, dtype=torch.float64))
    low, centre, high = edges[:-2], edges[1:-1], edges[2:]
    rise = (freqs[:, None] - low) / (centre - low)
    fall = (high - freqs[:, None]) / (high - centre)
    return torch.clamp(torch.minimum(rise, fall), min=0.0).float()


def log_mel(wave: Tensor, sample_rate: int, n_fft: int, hop: int, mels: int, filterbank: Tensor | None = None) -> Tensor:
    """wave [B,S] -> natural-log mel power [B,mels,1+S//hop] (Hann window, centred frames, floor 1e-10)."""
    bank = filterbank if filterbank is not None else mel_filterbank(n_fft, mels, sample_rate)
    spec = torch.stft(wave.float(), n_fft, hop_length=hop, window=torch.hann_window(n_fft, device=wave.device),
                      center=True, return_complex=True)                       # [B,n_fft/2+1,frames]
    power = spec.real.square() + spec.imag.square()
    return torch.log(torch.einsum("bft,fm->bmt", power, bank.to(power)) + 1e-10)


class AudioTokenizer(Tokenizer):
    """Waveforms [B,S] (S = `num_samples`) -> (F/p)(T/p) tokens of p*p log-mel values.

    sample_rate, n_fft, hop: the STFT (defaults 25 ms windows, 10 ms hop at 16 kHz as AudioMAE's fbank);
    mels x frames: the spectrogram (frames = 1 + S // hop); patch_size: square patches over (frequency, time).
    The log-mel is standardised as AudioMAE does, (x - norm_mean) / (2 norm_std); the defaults were measured
    on the built-in `sounds`. Grid (F/p, T/p): row = frequency band (low first), column = time.
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, hop: int = 160, mels: int = 128,
                 frames: int = 1024, patch_size: int = 16, dim: int = 768, learnable_pos: bool = False,
                 norm_mean: float = -4.0, norm_std: float = 3.5):
        super().__init__()
        if mels % patch_size or frames % patch_size:
            raise ValueError(f"spectrogram {mels} mels x {frames} frames is not divisible by patch size {patch_size}")
        if hop <= 0 or n_fft <= 0 or frames < 1:
            raise ValueError(f"STFT needs positive n_fft, hop and frames, got {n_fft}, {hop}, {frames}")
        self.sample_rate, self.n_fft, self.hop, self.mels, self.frames = sample_rate, n_fft, hop, mels, frames
        self.patch_size, self.dim, self.channels = patch_size, dim, 1
        self.image_size = (mels, frames)                  # the spectrogram, as an image [1,F,T]
        self.grid = (mels // patch_size, frames // patch_size)
        self.patch_dim = patch_size * patch_size
        self.norm_mean, self.norm_std = norm_mean, norm_std
        self.register_buffer("filterbank", mel_filterbank(n_fft, mels, sample_rate), persistent=False)
        self.proj = patch_embedding(1, dim, patch_size)
        self.pos = GridPosition(dim, self.grid, learnable=learnable_pos)

    @property
    def num_samples(self) -> int:
        """Waveform length giving exactly `frames` centred frames."""
        return self.hop * (self.frames - 1)

    @property
    def seconds(self) -> float:
        return self.num_samples / self.sample_rate

    def check_input(self, x) -> None:
        if not isinstance(x, Tensor):
            raise ValueError(f"expected waveforms as a torch.Tensor [B,S], got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.num_samples:
            raise ValueError(f"expected waveforms [B,{self.num_samples}] ({self.seconds:.2f} s at {self.sample_rate} Hz), "
                             f"got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"expected floating-point waveforms, got {x.dtype}")
        if x.shape[0] == 0:
            raise ValueError("expected at least one waveform, got an empty batch")
        check_finite(x, "waveforms")

    @classmethod
    def examples(cls) -> list[dict]:
        return [{"sample_rate": 8000, "n_fft": 64, "hop": 32, "mels": 16, "frames": 16, "patch_size": 4, "dim": 16},
                {"sample_rate": 4000, "n_fft": 32, "hop": 16, "mels": 8, "frames": 8, "patch_size": 2, "dim": 8}]

    def example_input(self, batch_size: int, generator: torch.Generator) -> Tensor:
        return torch.randn(batch_size, self.num_samples, generator=generator)

    def spectrogram(self, wave: Tensor) -> Tensor:
        """wave [B,S] -> standardised log-mel [B,1,mels,frames]."""
        spec = log_mel(wave, self.sample_rate, self.n_fft, self.hop, self.mels, self.filterbank)
        return ((spec - self.norm_mean) / (2 * self.norm_std)).unsqueeze(1)

    def patchify(self, x: Tensor) -> Tensor:
        """waveform [B,S] or spectrogram [B,1,F,T] -> patches [B,N,p*p]."""
        spec = x if x.ndim == 4 else self.spectrogram(x)
        return patchify_image(spec, self.patch_size)

    def unpatchify(self, values: Tensor) -> Tensor:
        """patches [B,N,p*p] -> spectrogram [B,1,F,T] (standardised log-mel)."""
        return unpatchify_image(values, self.patch_size, self.grid, 1)

    def position(self, dim: int, learnable: bool = False) -> nn.Module:
        return GridPosition(dim, self.grid, learnable=learnable)

    def forward(self, x: Tensor) -> Tokens:
        self.check_input(x)
        spec = self.spectrogram(x).to(self.proj.weight.dtype)
        embed = self.proj(spec).flatten(2).transpose(1, 2)                  # [B,N,D]
        return Tokens(values=patchify_image(spec, self.patch_size), embed=embed, pos=self.pos(), grid=self.grid)
