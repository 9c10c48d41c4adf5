"""Gaussian diffusion for continuous tokens: the noise schedule, the training corruption and a respaced
ancestral sampler (MAR row 34/51 per-token head, UMD row 1), and MAR's small MLP denoiser.

Facts from the papers' public code: 1,000 training timesteps, the cosine schedule of improved DDPM
(alpha_bar(t) = cos^2(((t/T + s)/(1 + s)) pi/2), s = 0.008, betas clipped at 0.999), epsilon prediction, fixed
posterior variance; sampling on an evenly respaced subset of the timesteps, the added noise scaled by a
temperature (MAR's `temperature`). MAR's denoiser (`SimpleMLPAdaLN`): residual MLP blocks whose LayerNorm
shift, scale and gate come from the timestep embedding plus the condition vector (adaLN, zero-initialised).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn


def cosine_alpha_bar(timesteps: int, s: float = 0.008) -> Tensor:
    """alpha_bar [T] of improved DDPM's cosine schedule (betas clipped at 0.999), float64."""
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0)


class GaussianDiffusion(nn.Module):
    """Corruption q(x_t | x_0) and a respaced ancestral sampler; buffers only (no weights)."""

    def __init__(self, timesteps: int = 1000):
        super().__init__()
        self.timesteps = timesteps
        self.register_buffer("alpha_bar", cosine_alpha_bar(timesteps).float(), persistent=False)

    def draw_t(self, batch: int, device, generator: torch.Generator | None = None) -> Tensor:
        """Uniform timesteps [B] in [0, T)."""
        return torch.randint(0, self.timesteps, (batch,), generator=generator, device=device)

    def corrupt(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise; t [B] broadcast over x0 [B,...]."""
        ab = self.alpha_bar[t].reshape(-1, *([1] * (x0.ndim - 1)))
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def x0_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        ab = self.alpha_bar[t].reshape(-1, *([1] * (x_t.ndim - 1)))
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def respaced(self, steps: int) -> list[int]:
        """`steps` timesteps evenly spaced over [0, T), last first."""
        if not isinstance(steps, int) or not 1 <= steps <= self.timesteps:
            raise ValueError(f"--diffusion-steps {steps}: must be a whole number in 1..{self.timesteps}")
        return sorted({int(round(v)) for v in torch.linspace(0, self.timesteps - 1, steps).tolist()}, reverse=True)

    @torch.no_grad()
    def sample(self, eps_fn: Callable[[Tensor, Tensor], Tensor], shape: tuple, steps: int,
               generator: torch.Generator | None = None, temperature: float = 1.0,
               clip: tuple[float, float] | None = None) -> tuple[Tensor, int]:
        """Ancestral sampling from N(0, I) of `shape` with `eps_fn(x_t, t [B]) -> eps` over `steps` respaced
        timesteps; `temperature` scales the noise added at each step (MAR); `clip` (low, high) bounds the
        predicted x_0 (pixels). -> (x_0, passes of eps_fn)."""
        device = self.alpha_bar.device
        x = torch.randn(shape, generator=generator, device=device)
        times = self.respaced(steps)
        for i, t in enumerate(times):
            ab = self.alpha_bar[t]
            ab_prev = self.alpha_bar[times[i + 1]] if i + 1 < len(times) else torch.ones_like(ab)
            tt = torch.full((shape[0],), t, device=device, dtype=torch.long)
            x0 = self.x0_from_eps(x, tt, eps_fn(x, tt))
            if clip is not None:
                x0 = x0.clamp(*clip)
            beta = 1 - ab / ab_prev                      # the respaced step's beta
            mean = (ab_prev.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - ab_prev) * x) / (1 - ab)
            if i + 1 < len(times):
                var = beta * (1 - ab_prev) / (1 - ab)    # posterior variance (beta tilde)
                x = mean + var.sqrt() * temperature * torch.randn(shape, generator=generator, device=device)
            else:
                x = mean
        return x, len(times)


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of timesteps t [B] -> [B,dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float().unsqueeze(-1) * freqs
    return torch.cat([args.cos(), args.sin()], -1)


class AdaLNBlock(nn.Module):
    """Residual MLP block whose LayerNorm is modulated (shift, scale, gate) by the condition c."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 3 * width))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale, gate = self.ada(c).chunk(3, -1)
        return x + gate * self.mlp(self.norm(x) * (1 + scale) + shift)


class TokenDenoiser(nn.Module):
    """MAR's per-token diffusion head: eps_theta(x_t [M,T], t [M], z [M,cond]) -> eps [M,T]."""

    def __init__(self, token_dim: int, cond_dim: int, width: int = 128, depth: int = 3):
        super().__init__()
        self.width = width
        self.input = nn.Linear(token_dim, width)
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.cond = nn.Linear(cond_dim, width)
        self.blocks = nn.ModuleList([AdaLNBlock(width) for _ in range(depth)])
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, token_dim)
        for layer in (self.final_ada[1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, t: Tensor, z: Tensor) -> Tensor:
        c = self.time(timestep_embedding(t, self.width)) + self.cond(z)
        h = self.input(x)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_ada(c).chunk(2, -1)
        return self.out(self.final_norm(h) * (1 + scale) + shift)
