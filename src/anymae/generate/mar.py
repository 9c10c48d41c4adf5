"""MAR (masked autoregression with a per-token diffusion head; rows 34 and 51 build on it), LMD (row 31) and
Harmon (row 34) as one generator of continuous tokens.

Training (MAR): hide ceil(r N) random tokens, r from a normal of mean 1 and std 0.25 truncated to [0.7, 1]
(MAR's public code), one r per batch; encode the visible tokens, decode a condition vector z_i for every
position; for each *hidden* token a small MLP denoiser conditioned on z_i learns to predict the noise added to
that token at a random diffusion timestep (each hidden token repeated `diffusion_batch` = 4 times with its
own timestep and noise, as MAR). The loss is the mean over hidden tokens only; visible tokens cost nothing.

- LMD (row 31): `ratio_schedule` names a schedule of `masking/schedule.py` that rises over training from
  `ratio_start` to `ratio_end` ("progressive" by default); the ratio of a batch is drawn uniformly from
  [`ratio_floor`, schedule(progress)], so early training reconstructs from many visible tokens and late
  training from few (LMD's "simple to difficult"); the trainer reports progress with `set_progress`.
- Harmon (row 34): `understanding_weight > 0` shares the MAR encoder with an understanding task, the laptop
  stand-in for Harmon's image-to-text: the encoder reads the whole, clean image (with the "no class" token,
  so the label cannot leak in) and a linear head names its class (cross-entropy). One encoder serves both.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..masking.schedule import SCHEDULES as RATIO_SCHEDULES
from .continuous import ContinuousGenerator, hidden_mask
from .diffusion import GaussianDiffusion, TokenDenoiser
from .model import GenerationOutput, visible_positions


class MaskedAutoregressiveGenerator(ContinuousGenerator):
    """MAR: bidirectional masked transformer + per-token MLP diffusion head (with LMD's and Harmon's options)."""

    samplers = ("mar",)

    def __init__(self, tokenizer: nn.Module, dim: int = 64, enc_depth: int = 2, depth: int = 2, heads: int = 4,
                 num_classes: int = 10, class_dropout: float = 0.1, head_width: int = 128, head_depth: int = 3,
                 diffusion_batch: int = 4, timesteps: int = 1000, mask_min: float = 0.7, mask_std: float = 0.25,
                 ratio_schedule: str | None = None, ratio_start: float = 0.5, ratio_end: float = 0.99,
                 ratio_floor: float = 0.1, understanding_weight: float = 0.0, mlp_ratio: float = 4.0):
        super().__init__(tokenizer, dim, enc_depth, depth, heads, num_classes, class_dropout, mlp_ratio)
        if not 0.0 < mask_min <= 1.0:
            raise ValueError(f"mask_min={mask_min}: must be in (0, 1]")
        if diffusion_batch < 1:
            raise ValueError(f"diffusion_batch={diffusion_batch}: must be >= 1")
        self.mask_min, self.mask_std, self.diffusion_batch = mask_min, mask_std, diffusion_batch
        self.ratio_schedule = RATIO_SCHEDULES.get(ratio_schedule)(ratio_start, ratio_end) if ratio_schedule else None
        self.ratio_floor, self.progress = ratio_floor, 0.0
        if self.ratio_schedule is not None and not 0.0 <= ratio_floor <= min(ratio_start, ratio_end):
            raise ValueError(f"ratio_floor={ratio_floor}: must be in [0, min(ratio_start, ratio_end)]")
        self.head_pos = nn.Parameter(torch.zeros(1, self.num_tokens, dim))   # MAR's diffusion_pos_embed_learned
        nn.init.trunc_normal_(self.head_pos, std=0.02)
        self.denoiser = TokenDenoiser(self.token_dim, dim, head_width, head_depth)
        self.diffusion = GaussianDiffusion(timesteps)
        self.understanding_weight = understanding_weight
        if understanding_weight > 0:
            if not num_classes:
                raise ValueError("understanding_weight > 0 (Harmon) needs labelled data: num_classes is 0")
            self.understanding = nn.Linear(dim, num_classes)

    # ---------------------------------------------------------------- the mask ratio
    def set_progress(self, fraction: float) -> None:
        """The trainer's progress in [0, 1] (LMD's schedule reads it)."""
        self.progress = float(fraction)

    def draw_ratio(self, device, generator: torch.Generator | None = None) -> float:
        """One mask ratio: LMD's U[floor, schedule(progress)], else MAR's truncated normal on [mask_min, 1]."""
        u = float(torch.rand((), generator=generator, device=device))
        if self.ratio_schedule is not None:
            return self.ratio_floor + u * (self.ratio_schedule(self.progress) - self.ratio_floor)
        while True:   # |N(0, std)| below 1 - mask_min, by rejection (accepts 77% at MAR's values)
            r = 1.0 - abs(float(torch.randn((), generator=generator, device=device))) * self.mask_std
            if r >= self.mask_min:
                return r

    def draw_hidden(self, batch: int, device, generator: torch.Generator | None = None) -> Tensor:
        """[B,N] bool: ceil(r N) hidden positions a row (one r a batch), at random positions."""
        count = min(self.num_tokens, max(1, math.ceil(self.draw_ratio(device, generator) * self.num_tokens)))
        return hidden_mask(batch, self.num_tokens, count, device, generator)

    # ---------------------------------------------------------------- forward pieces
    def condition(self, tokens: Tensor, known: Tensor, labels: Tensor | None) -> Tensor:
        """tokens [B,N,T] (read where known), known [B,N] bool, same count a row -> z [B,N,dim] for the head."""
        visible = visible_positions(known)
        encoded = self.encode(tokens, visible, self.class_token(labels, len(tokens), tokens.device))
        return self.decode(encoded, visible) + self.head_pos

    def diffusion_loss(self, z: Tensor, target: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z [M,dim], target tokens [M,T] -> per-token noise-prediction MSE [M] (mean of `diffusion_batch`
        draws of timestep and noise)."""
        k = self.diffusion_batch
        z, x0 = z.repeat(k, 1), target.repeat(k, 1)
        t = self.diffusion.draw_t(len(x0), x0.device, generator)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        eps = self.denoiser(self.diffusion.corrupt(x0, t, noise), t, z)
        return (eps - noise).pow(2).mean(-1).reshape(k, -1).mean(0)

    def loss_on_codes(self, codes: Tensor, labels: Tensor | None = None,
                      generator: torch.Generator | None = None) -> GenerationOutput:
        """tokens [B,N,T] -> the diffusion loss on the hidden tokens only (+ Harmon's understanding term)."""
        b, device = codes.shape[0], codes.device
        hidden = self.draw_hidden(b, device, generator)
        z = self.condition(codes, ~hidden, self.drop_labels(labels, generator))
        per_token = self.diffusion_loss(z[hidden], codes[hidden], generator)
        terms = {"diffusion": per_token.mean()}
        if self.understanding_weight > 0 and labels is not None:
            logits = self.understanding(self.features_of(codes))
            terms["understanding"] = self.understanding_weight * F.cross_entropy(logits, labels)
        return GenerationOutput(loss=sum(terms.values()), terms=terms, hidden=hidden)
