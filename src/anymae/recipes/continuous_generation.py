"""Masked generation of continuous tokens (docs/generation.md, "Masked generation II"): a KL autoencoder
tokenizer (`klae_tiny`, LMD's VAE latent space) and generators over patch pixels (default) or over a
`klae_tiny` run's latent (`--tokenizer RUN`): MAR with a per-token diffusion head (`mar_tiny`), LMD
(`lmd_tiny`, row 31), Harmon (`harmon_tiny`, row 34) and UMD (`umd_tiny`, row 1). `modality="generation"`:
`anymae pretrain` trains them with anymae/train/generative.py."""
from __future__ import annotations

from ..generate.mar import MaskedAutoregressiveGenerator
from ..generate.umd import UnifiedMaskedDiffusion
from ..tokenizers.continuous import KLAutoencoder, PixelPatchTokenizer
from .registry import create, register

# laptop budgets (a few minutes each on one busy CPU core; docs/generation.md)
KL_TRAIN = {"lr": 2e-3, "weight_decay": 0.0, "steps": 1000, "batch_size": 64, "warmup": 0.02}
CONTINUOUS_TRAIN = {"lr": 1e-3, "weight_decay": 0.05, "steps": 2000, "batch_size": 64, "warmup": 0.05}


@register("klae_tiny", paper=31, modality="generation", train=KL_TRAIN)
def klae_tiny(image_size: int = 16, channels: int = 3, width: int = 16, dims: int = 4, downsample: int = 2,
              kl_weight: float = 1e-4):
    """KL-regularised conv autoencoder (QLAE's without quantization): continuous latent tokens for MAR / LMD"""
    return KLAutoencoder(image_size=image_size, channels=channels, width=width, dims=dims, downsample=downsample,
                         kl_weight=kl_weight)


def continuous_tokenizer(tokenizer_recipe: str | None, tokenizer_args: dict | None, image_size: int,
                         channels: int, patch_size: int):
    """None: patch pixels (image_size, channels, patch_size); else a continuous tokenizer recipe (klae_tiny)."""
    if tokenizer_recipe is None:
        return PixelPatchTokenizer(image_size=image_size, channels=channels, patch_size=patch_size)
    tokenizer = create(tokenizer_recipe, **(tokenizer_args or {}))
    if getattr(tokenizer, "kind", None) != "tokenizer" or not hasattr(tokenizer, "token_dim"):
        raise ValueError(f"tokenizer_recipe={tokenizer_recipe!r} is not a continuous tokenizer (e.g. klae_tiny; "
                         "qlae_tiny's codes are for maskgit_tiny / enat_tiny)")
    return tokenizer


@register("mar_tiny", paper=34, modality="generation", train=CONTINUOUS_TRAIN)
def mar_tiny(tokenizer_recipe: str | None = None, tokenizer_args: dict | None = None, image_size: int = 8,
             channels: int = 1, patch_size: int = 2, dim: int = 64, enc_depth: int = 2, depth: int = 2,
             heads: int = 4, num_classes: int = 10, class_dropout: float = 0.1, head_width: int = 128,
             head_depth: int = 3, diffusion_batch: int = 4):
    """MAR, laptop size: 2+2 blocks x 64 over patch pixels (or a klae run's latent), MLP diffusion head 3 x 128"""
    return MaskedAutoregressiveGenerator(
        continuous_tokenizer(tokenizer_recipe, tokenizer_args, image_size, channels, patch_size), dim=dim,
        enc_depth=enc_depth, depth=depth, heads=heads, num_classes=num_classes, class_dropout=class_dropout,
        head_width=head_width, head_depth=head_depth, diffusion_batch=diffusion_batch)


@register("lmd_tiny", paper=31, modality="generation", train=CONTINUOUS_TRAIN)
def lmd_tiny(tokenizer_recipe: str | None = "klae_tiny", tokenizer_args: dict | None = None, image_size: int = 8,
             channels: int = 1, patch_size: int = 2, dim: int = 64, enc_depth: int = 2, depth: int = 2,
             heads: int = 4, num_classes: int = 10, class_dropout: float = 0.1, head_width: int = 128,
             head_depth: int = 3, ratio_schedule: str = "progressive", ratio_start: float = 0.5,
             ratio_end: float = 0.99, ratio_floor: float = 0.1):
    """LMD, laptop size: masked diffusion in a klae run's latent, mask ratio rising by a progressive schedule"""
    return MaskedAutoregressiveGenerator(
        continuous_tokenizer(tokenizer_recipe, tokenizer_args, image_size, channels, patch_size), dim=dim,
        enc_depth=enc_depth, depth=depth, heads=heads, num_classes=num_classes, class_dropout=class_dropout,
        head_width=head_width, head_depth=head_depth, ratio_schedule=ratio_schedule, ratio_start=ratio_start,
        ratio_end=ratio_end, ratio_floor=ratio_floor)


@register("harmon_tiny", paper=34, modality="generation", train=CONTINUOUS_TRAIN)
def harmon_tiny(tokenizer_recipe: str | None = None, tokenizer_args: dict | None = None, image_size: int = 8,
                channels: int = 1, patch_size: int = 2, dim: int = 64, enc_depth: int = 2, depth: int = 2,
                heads: int = 4, num_classes: int = 10, class_dropout: float = 0.1, head_width: int = 128,
                head_depth: int = 3, understanding_weight: float = 0.5):
    """Harmon, laptop size: mar_tiny whose encoder also names the class of clean images (understanding)"""
    return MaskedAutoregressiveGenerator(
        continuous_tokenizer(tokenizer_recipe, tokenizer_args, image_size, channels, patch_size), dim=dim,
        enc_depth=enc_depth, depth=depth, heads=heads, num_classes=num_classes, class_dropout=class_dropout,
        head_width=head_width, head_depth=head_depth, understanding_weight=understanding_weight)


@register("umd_tiny", paper=1, modality="generation", train=CONTINUOUS_TRAIN)
def umd_tiny(tokenizer_recipe: str | None = None, tokenizer_args: dict | None = None, image_size: int = 8,
             channels: int = 1, patch_size: int = 2, dim: int = 64, enc_depth: int = 3, depth: int = 1,
             heads: int = 4, num_classes: int = 10, class_dropout: float = 0.1, mask_ratio: float = 0.375,
             clean_mask_ratio: float = 0.75, clean_share: float = 0.5):
    """UMD, laptop size: 3+1 blocks x 64 over patch pixels; half the batch noise-free at 75% masked, half noised at 37.5%"""
    return UnifiedMaskedDiffusion(
        continuous_tokenizer(tokenizer_recipe, tokenizer_args, image_size, channels, patch_size), dim=dim,
        enc_depth=enc_depth, depth=depth, heads=heads, num_classes=num_classes, class_dropout=class_dropout,
        mask_ratio=mask_ratio, clean_mask_ratio=clean_mask_ratio, clean_share=clean_share)
