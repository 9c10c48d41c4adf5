"""Frozen features for probes: which tokens and blocks a probe reads."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

POOLS = ("cls", "mean", "cls+mean", "mean-last4")


def pool_latents(latents: torch.Tensor, num_prefix: int, pool: str) -> torch.Tensor:
    """latents [B,P+N,D] -> [B,F]."""
    if pool == "cls":
        if num_prefix == 0:
            raise ValueError("pool 'cls' needs an encoder with a cls token")
        return latents[:, 0]
    if pool == "mean":
        return latents[:, num_prefix:].mean(1)
    if pool == "cls+mean":
        return torch.cat([latents[:, 0], latents[:, num_prefix:].mean(1)], dim=1)
    raise ValueError(f"unknown pooling {pool!r}; choose from {POOLS}")


@torch.no_grad()
def encoder_features(model, images: torch.Tensor, pool: str = "mean", batch_size: int = 256,
                     progress: bool = False, desc: str = "features") -> np.ndarray:
    """images [M,...] (already normalised) -> features [M,F] from the frozen encoder, no masking."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    steps = range(0, len(images), batch_size)
    for start in tqdm(steps, desc=desc, disable=not progress, leave=False):
        x = images[start:start + batch_size].to(device)
        prefix = model.encoder.num_prefix
        if pool == "mean-last4":
            layers = model.encode_layers(x, [-4, -3, -2, -1])
            feats = torch.cat([pool_latents(torch.nn.functional.layer_norm(z, z.shape[-1:]), prefix, "mean")
                               for z in layers], dim=1)
        else:
            feats = pool_latents(model.encode(x), prefix, pool)
        out.append(feats.float().cpu())
    return torch.cat(out).numpy()
