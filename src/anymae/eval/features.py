"""Frozen features for probes: which tokens and blocks a probe reads."""
from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

POOLS = ("cls", "mean", "cls+mean", "max+mean", "mean-last4", "grid", "grid3", "hicmae")


def pool_latents(latents: torch.Tensor, num_prefix: int, pool: str) -> torch.Tensor:
    """latents [B,P+N,D] -> [B,F]; `pool="tokens"`: every patch token, unpooled [B,N,D] (what `anymae embed` writes
    and the attentive probe reads; not a linear probe's reading, so not in POOLS)."""
    if pool == "tokens":
        return latents[:, num_prefix:]
    if pool == "cls":
        if num_prefix == 0:
            raise ValueError("pool 'cls' needs an encoder with a cls token")
        return latents[:, 0]
    if pool == "mean":
        return latents[:, num_prefix:].mean(1)
    if pool == "cls+mean":
        return torch.cat([latents[:, 0], latents[:, num_prefix:].mean(1)], dim=1)
    if pool == "max+mean":  # Point-MAE's linear-SVM protocol
        tokens = latents[:, num_prefix:]
        return torch.cat([tokens.max(1).values, tokens.mean(1)], dim=1)
    if pool in ("grid", "grid3"):
        # grid: the mean of each quarter of a square token grid, concatenated (where things are);
        # grid3: the means of 3x3 overlapping windows (2x2 tokens at stride 1 on a 4x4 grid), as HOG's blocks overlap
        cells = 2 if pool == "grid" else 3
        tokens = latents[:, num_prefix:]
        side = math.isqrt(tokens.shape[1])
        if side * side != tokens.shape[1] or side < cells:
            raise ValueError(f"pool {pool!r} needs a square grid of at least {cells}x{cells} tokens, not "
                             f"{tokens.shape[1]} (read another pooling: --pool mean)")
        grid = tokens.reshape(tokens.shape[0], side, side, -1).permute(0, 3, 1, 2)
        return torch.nn.functional.adaptive_avg_pool2d(grid, cells).flatten(1)
    if pool == "hicmae":
        raise ValueError("pool 'hicmae' reads HiCMAE's encoder block by block (anymae probe --pool hicmae), not "
                         "pooled latents: read another, e.g. mean")
    raise ValueError(f"unknown pooling {pool!r}; choose from {POOLS}")


def to_device(x, device):
    """A batch's inputs (a tensor, or a dict of tensors for multi-modal and text data) on `device`."""
    return x.to(device) if torch.is_tensor(x) else {k: v.to(device) for k, v in x.items()}


def fit_batch_norm(model, dataset, batch_size: int = 256) -> bool:
    """Re-estimate every batch norm's running statistics on `dataset` (unmasked inputs, train-mode forward passes,
    cumulative average; no labels, no gradients). False, and nothing run, when `model` has no batch norm.

    A probe reads networks in eval mode: without this a random CNN normalises with its initial statistics
    (mean 0, variance 1) and a SparK encoder with those of masked images, so each row would be read otherwise.
    """
    from torch.utils.data import DataLoader
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return False
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the passes
    device = next(model.parameters()).device
    model.train()
    with torch.no_grad():
        for x, _, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            model.encode(to_device(x, device))
    model.eval()
    return True


@torch.no_grad()
def encoder_features(model, dataset, pool: str = "mean", batch_size: int = 256, progress: bool = False,
                     desc: str = "features") -> np.ndarray:
    """A data set (items `(input, label, index)`, inputs already transformed) -> features [M,F].

    The encoder is frozen and sees every token (no masking).
    """
    from torch.utils.data import DataLoader
    model.eval()
    device = next(model.parameters()).device
    prefix = model.encoder.num_prefix
    out = []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for x, _, _ in tqdm(loader, desc=desc, disable=not progress, leave=False):
        x = to_device(x, device)
        if hasattr(model, "text_features"):  # text: pads are never pooled (text_model.py)
            feats = model.text_features(x, pool)
        elif pool == "hicmae":  # HiCMAE's fine-tuning readout: unimodal layer means + fused means per modality
            if not hasattr(model.encoder, "finetune_features"):
                raise ValueError("pool 'hicmae' reads HiCMAE's encoder (an audio-visual run); read another: --pool mean")
            feats = model.encoder.finetune_features(model.tokenize(x))
        elif pool == "mean-last4":
            layers = model.encode_layers(x, [-4, -3, -2, -1])
            feats = torch.cat([pool_latents(torch.nn.functional.layer_norm(z, z.shape[-1:]), prefix, "mean")
                               for z in layers], dim=1)
        else:
            feats = pool_latents(model.encode(x), prefix, pool)
        out.append(feats.float().cpu())
    return torch.cat(out).numpy()
