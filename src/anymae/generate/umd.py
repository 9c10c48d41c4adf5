"""UMD (row 1, Unified Masked Diffusion): one transformer trained both as a masked autoencoder and as a
diffusion model, so that one training run gives a generator and an encoder.

The corruption of a batch (the paper's public code, `ae_i1k.py` / `train_ae.py`): a share `clean_share` = 0.5
of the rows takes the added **noise-free step** (timestep 0) with a **high mask ratio** 0.75 and no class, and
learns x_0 of the hidden tokens (MAE); the other rows take a diffusion timestep t ~ U{0..T-1}, are noised
(x_t, cosine schedule) **and** masked at 0.375, and learn x_0 of the hidden tokens and the noise eps of the
visible ones (each averaged, then halved). Loss = (1 - share) * diffusion part + share * MAE part. The model
sees the timestep (t + 1 for noised rows, 0 for the clean step) and the class.

Generation: every token visible, ancestral sampling from noise with the predicted eps (x_0 clipped to the
pixel range for pixel tokens, as the paper's pixel-space runs); representation: the encoder at timestep 0,
no mask, no class, mean-pooled (`features`).

Ours, said in docs/generation.md: the timestep and class are two prefix tokens of the transformer (DiT's
in-context conditioning) rather than adaLN; MAE's split (encoder on visible tokens, decoder with mask tokens).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .continuous import ContinuousGenerator, hidden_mask
from .diffusion import GaussianDiffusion, timestep_embedding
from .model import GenerationOutput, visible_positions


@dataclass
class Corruption:
    """One batch's corruption: rows [B] of timestep (0 = the noise-free step, else t + 1), hidden [B,N] bool,
    noised [B] bool."""

    step: Tensor
    hidden: Tensor
    noised: Tensor


class UnifiedMaskedDiffusion(ContinuousGenerator):
    """UMD: a masked diffusion transformer whose schedule adds a noise-free, high-mask step."""

    samplers = ("umd",)
    num_prefix = 2          # timestep, class

    def __init__(self, tokenizer: nn.Module, dim: int = 64, enc_depth: int = 3, depth: int = 1, heads: int = 4,
                 num_classes: int = 10, class_dropout: float = 0.1, mask_ratio: float = 0.375,
                 clean_mask_ratio: float = 0.75, clean_share: float = 0.5, timesteps: int = 1000,
                 clip: bool = True, mlp_ratio: float = 4.0):
        super().__init__(tokenizer, dim, enc_depth, depth, heads, num_classes, class_dropout, mlp_ratio)
        for name, value in (("mask_ratio", mask_ratio), ("clean_mask_ratio", clean_mask_ratio),
                            ("clean_share", clean_share)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value}: must be in [0, 1)")
        self.mask_ratio, self.clean_mask_ratio, self.clean_share = mask_ratio, clean_mask_ratio, clean_share
        self.clip = clip and getattr(tokenizer, "trainable", True) is False   # pixel tokens: x_0 in [-1, 1]
        self.time_embed = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.head = nn.Linear(dim, 2 * self.token_dim)                          # x_0 and eps
        self.diffusion = GaussianDiffusion(timesteps)

    def prefix(self, step: Tensor, labels: Tensor | None) -> Tensor:
        """step [B] (0 clean, t + 1 noised), labels -> [B,2,dim]: timestep token, class token."""
        time = self.time_embed(timestep_embedding(step, self.dim)).unsqueeze(1)
        return torch.cat([time, self.class_token(labels, len(step), step.device)], 1)

    def clean_prefix(self, batch: int, device) -> Tensor:
        return self.prefix(torch.zeros(batch, dtype=torch.long, device=device), None)

    def predict(self, x: Tensor, known: Tensor, step: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
        """tokens x [B,N,T] (x_t or x_0), known [B,N] bool (same count a row), step [B] -> (x_0, eps) [B,N,T]."""
        visible = visible_positions(known)
        out = self.head(self.decode(self.encode(x, visible, self.prefix(step, labels)), visible))
        return out.chunk(2, -1)

    # ---------------------------------------------------------------- training
    def corruption(self, batch: int, device, generator: torch.Generator | None = None) -> Corruption:
        """The schedule of one batch: the last round(B * clean_share) rows the noise-free step at
        `clean_mask_ratio`, the others a random timestep at `mask_ratio` (counts rounded to whole tokens)."""
        n_clean = int(batch * self.clean_share)
        n_noised = batch - n_clean
        step = torch.zeros(batch, dtype=torch.long, device=device)
        step[:n_noised] = self.diffusion.draw_t(n_noised, device, generator) + 1
        hidden = torch.zeros(batch, self.num_tokens, dtype=torch.bool, device=device)
        if n_noised:
            hidden[:n_noised] = hidden_mask(n_noised, self.num_tokens, round(self.mask_ratio * self.num_tokens),
                                            device, generator)
        if n_clean:
            hidden[n_noised:] = hidden_mask(n_clean, self.num_tokens,
                                            round(self.clean_mask_ratio * self.num_tokens), device, generator)
        return Corruption(step=step, hidden=hidden, noised=step > 0)

    def loss_on_codes(self, codes: Tensor, labels: Tensor | None = None,
                      generator: torch.Generator | None = None) -> GenerationOutput:
        """tokens [B,N,T] -> UMD's loss: the clean rows' MAE part and the noised rows' diffusion part."""
        plan = self.corruption(len(codes), codes.device, generator)
        labels = self.drop_labels(labels, generator)
        terms, share = {}, float((~plan.noised).float().mean())
        noised, clean = plan.noised, ~plan.noised
        if noised.any():
            x0, t = codes[noised], plan.step[noised] - 1
            noise = torch.randn(x0.shape, generator=generator, device=codes.device)
            hidden = plan.hidden[noised]
            pred_x0, pred_eps = self.predict(self.diffusion.corrupt(x0, t, noise), ~hidden, plan.step[noised],
                                             labels[noised] if labels is not None else None)
            x0_loss = masked_mean((pred_x0 - x0).pow(2).mean(-1), hidden)
            eps_loss = masked_mean((pred_eps - noise).pow(2).mean(-1), ~hidden)
            terms["diffusion"] = (1 - share) * (x0_loss + eps_loss) / 2
        if clean.any():
            x0, hidden = codes[clean], plan.hidden[clean]
            pred_x0, _ = self.predict(x0, ~hidden, plan.step[clean], None)
            terms["mae"] = share * masked_mean((pred_x0 - x0).pow(2).mean(-1), hidden)
        return GenerationOutput(loss=sum(terms.values()), terms=terms, hidden=plan.hidden)

    # ---------------------------------------------------------------- sampling
    def eps(self, x_t: Tensor, t: Tensor, labels: Tensor | None) -> Tensor:
        """Every token visible: x_t [B,N,T], t [B] in [0, T) -> predicted eps [B,N,T]."""
        known = torch.ones(x_t.shape[:2], dtype=torch.bool, device=x_t.device)
        return self.predict(x_t, known, t + 1, labels)[1]

    def clip_range(self) -> tuple[float, float] | None:
        """Bounds of standardised x_0 for pixel tokens (pixels in [-1, 1]); None for latents."""
        return self.token_range() if self.clip else None


def masked_mean(values: Tensor, where: Tensor) -> Tensor:
    """Mean of values [B,N] where `where` [B,N] is True (0 when nowhere)."""
    return (values * where).sum() / where.sum().clamp_min(1)
