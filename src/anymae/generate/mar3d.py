"""MAR-3D (PAPERS.md row 51, laptop size): MAR over the continuous tokens of point clouds.

A cloud becomes G tokens (`tokenizers/point_patches.py`: FPS centres in FPS order, each with its k nearest
points relative to it). The generator is MAR unchanged (`mar.py`): a bidirectional transformer over the
tokens with random masking while training (ratio from MAR's truncated normal on [0.7, 1]), a class token, and
a per-token MLP diffusion head trained on the hidden tokens only. Sampling is the `mar` sampler: all tokens
masked, a random order, S steps each revealing the next tokens of the order, each drawn by T ancestral steps
of the head ("auto-regressive denoising in random order", which suits unordered 3-D tokens).

What differs from the image generators: tokens are standardised per dimension (centres spread over the unit
sphere, offsets of a small patch are ~10 x smaller: one scalar scale would leave the offsets almost silent in
the diffusion loss), and `generate_points` returns clouds [B,P,3] with exactly the requested P points (a
random subset of the G x k decoded points).

Not built (the paper's, not the abstract's laptop core): the pyramid VAE (a trained 3-D latent with
progressive resolutions), the cascade of MARs that up-scales the latent with condition augmentation, and
image conditioning; this generator is class-conditional.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..tokenizers.point_patches import random_rotations
from .mar import MaskedAutoregressiveGenerator
from .samplers import SAMPLERS


class PointCloudMAR(MaskedAutoregressiveGenerator):
    """MAR over point-patch tokens: `tokenize(clouds [B,N,3])`, `generate_points(...) -> clouds [B,P,3]`."""

    point_cloud = True

    def __init__(self, tokenizer, **kwargs):
        super().__init__(tokenizer, **kwargs)
        self.token_mean = torch.zeros(self.token_dim)   # per dimension (replaces the scalar buffers)
        self.token_std = torch.ones(self.token_dim)

    @torch.no_grad()
    def fit_tokens(self, tokens: Tensor) -> Tensor:
        """Store the per-dimension mean and standard deviation of raw training tokens [M,N,T]; -> them standardised."""
        flat = tokens.reshape(-1, tokens.shape[-1])
        self.token_mean.copy_(flat.mean(0))
        self.token_std.copy_(flat.std(0).clamp_min(1e-6))
        return (tokens - self.token_mean) / self.token_std

    @torch.no_grad()
    def tokenize(self, x: Tensor) -> Tensor:
        """clouds [B,N,3] -> standardised tokens [B,G,T]."""
        return (self.tokenizer.encode(x) - self.token_mean) / self.token_std

    def token_range(self, latent_bound: float = 4.0) -> tuple[float, float]:
        """Clip a predicted x_0 to +-`latent_bound` standard deviations of each dimension (our choice, as MAR's latents)."""
        return -latent_bound, latent_bound

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        """standardised tokens [B,G,T] -> clouds [B,G*k,3]."""
        return self.tokenizer.decode(tokens * self.token_std + self.token_mean)

    @torch.no_grad()
    def round_trip(self, x: Tensor) -> Tensor:
        """clouds [B,N,3] -> their tokens decoded back, in the input's frame [B,G*k,3] (the tokens' ceiling)."""
        tokens, frame = self.tokenizer.encode(x, return_frame=True)
        return self.tokenizer.decode(tokens, frame)

    @torch.no_grad()
    def generate_points(self, count: int, labels: Tensor | None = None, steps: int = 8, points: int | None = None,
                        generator: torch.Generator | None = None, temperature: float = 1.0, guidance: float = 0.0,
                        diffusion_steps: int = 50) -> tuple[Tensor, dict]:
        """`count` clouds of exactly `points` points (default G x k) -> (clouds [count,points,3], cost:
        full_passes (transformer), cheap_passes, denoiser_passes)."""
        most = self.tokenizer.output_points
        points = most if points is None else points
        if not 1 <= points <= most:
            raise ValueError(f"--points {points}: this generator makes clouds of at most {most} points "
                             f"({self.num_tokens} groups of {self.tokenizer.group_size})")
        if not isinstance(steps, int) or not 1 <= steps <= self.num_tokens:
            raise ValueError(f"--steps {steps}: must be a whole number in 1..{self.num_tokens} (one step per token at most)")
        if labels is not None and (not self.num_classes or bool(((labels < 0) | (labels >= self.num_classes)).any())):
            raise ValueError(f"--class: this generator knows classes 0..{self.num_classes - 1}" if self.num_classes
                             else "--class: this generator was trained without classes (unconditional)")
        self.eval()
        device = self.pos.device
        labels = labels.to(device) if labels is not None else None
        tokens, cost = SAMPLERS.get("mar")(self, count, labels, steps, generator=generator, temperature=temperature,
                                           guidance=guidance, diffusion_steps=diffusion_steps)
        clouds = self.decode_tokens(tokens)                                                  # [B,G*k,3]
        if self.tokenizer.pose == "pca":   # canonical-pose shapes -> the data's uniformly random pose
            clouds = clouds @ random_rotations(count, generator, device).transpose(1, 2)
        if points < most:
            keep = torch.rand(count, most, generator=generator, device=device).argsort(1)[:, :points]
            clouds = torch.gather(clouds, 1, keep.unsqueeze(-1).expand(-1, -1, 3))
        return clouds, cost
