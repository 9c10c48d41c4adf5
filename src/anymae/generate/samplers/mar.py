"""`mar` (MAR; Harmon row 34, MAR-3D row 51 and LMD row 31 generate with it): start with every token masked;
a random order of the positions is drawn per image, and each of S steps reveals the next tokens of that order
(as many as the cosine schedule says, `masked_counts`). At a step the transformer runs once on the tokens
known so far and gives a condition z for every position; each token to reveal is drawn by running the per-token
MLP denoiser for `diffusion_steps` ancestral steps from noise (`temperature` scales the noise, MAR's
temperature). Classifier-free guidance: eps = cond + w (cond - uncond), the same noise for both halves.

Each denoising step clips the predicted x_0 to the tokens' range (`token_range`: the pixel range for patch
pixels, +-4 standard deviations for latents). MAR's code does not clip; without it a tiny denoiser's small
noise-prediction error at the first timestep (alpha_bar ~ 1e-9 in the cosine schedule) is amplified ~10^4 times
and the tokens explode (measured: |token| ~ 600 on digits).

Cost: `full_passes` = S transformer passes; `denoiser_passes` = S x diffusion_steps passes of the MLP (each over
that step's tokens), counted apart as the score asks.
"""
from __future__ import annotations

import torch

from ..model import gather_rows
from ..schedule import masked_counts
from .base import SAMPLERS


def check_continuous(model, name: str) -> None:
    if name not in (getattr(model, "samplers", None) or ()):
        raise ValueError(f"--sampler {name}: this generator does not take it (a {name} sampler needs a "
                         f"{'mar_tiny, lmd_tiny or harmon_tiny' if name == 'mar' else 'umd_tiny'} run)")


@SAMPLERS.register("mar")
@torch.no_grad()
def mar(model, count, labels, steps, generator=None, temperature=1.0, guidance=0.0, diffusion_steps=50,
        order_schedule="cosine", trace=None, **_):
    """-> (standardised tokens [B,N,T], {full_passes, cheap_passes, denoiser_passes})."""
    check_continuous(model, "mar")
    n, device = model.num_tokens, model.pos.device
    counts = masked_counts(n, steps, order_schedule)
    tokens = torch.zeros(count, n, model.token_dim, device=device)
    known = torch.zeros(count, n, dtype=torch.bool, device=device)
    order = torch.rand(count, n, generator=generator, device=device).argsort(1)
    guided = labels is not None and guidance != 0.0
    cond_labels = torch.cat([labels, torch.full_like(labels, -1)]) if guided else labels
    denoiser_passes = 0
    for s in range(steps):
        both = (lambda x: torch.cat([x, x])) if guided else (lambda x: x)
        z = model.condition(both(tokens), both(known), cond_labels)              # [B(x2),N,dim]
        done, k = n - counts[s], counts[s] - counts[s + 1]
        pick = order[:, done:done + k]                                            # [B,k]
        zk = gather_rows(z, both(pick)).reshape(-1, z.shape[-1])                  # [B(x2)*k,dim]

        def eps_fn(x, t):
            if not guided:
                return model.denoiser(x, t, zk)
            out = model.denoiser(torch.cat([x, x]), torch.cat([t, t]), zk)
            cond, uncond = out.chunk(2)
            return cond + guidance * (cond - uncond)

        drawn, passes = model.diffusion.sample(eps_fn, (count * k, model.token_dim), diffusion_steps, generator,
                                               temperature, clip=model.token_range())
        denoiser_passes += passes
        tokens = tokens.scatter(1, pick.unsqueeze(-1).expand(-1, -1, model.token_dim),
                                drawn.reshape(count, k, -1))
        known = known.scatter(1, pick, True)
        if trace is not None:
            trace.append(int(known.sum(1).min()))
    return tokens, {"full_passes": steps, "cheap_passes": 0, "denoiser_passes": denoiser_passes}
