"""Masked generation recipes: a latent-quantized tokenizer (QLAE, row 52) and MaskGIT-style generators over
its tokens (row 21 ReCAP and row 47 ENAT run on them). `modality="generation"`: `anymae pretrain` trains them
with the generative trainer (anymae/train/generative.py), a generator with `--tokenizer RUN`."""
from __future__ import annotations

from ..generate import MaskedTokenGenerator
from ..tokenizers.qlae import QuantizedAutoencoder
from .registry import create, register

# laptop budgets (a few minutes each on 2 busy CPU cores; docs/generation.md)
TOKENIZER_TRAIN = {"lr": 2e-3, "weight_decay": 0.1, "steps": 1000, "batch_size": 64, "warmup": 0.02}
GENERATOR_TRAIN = {"lr": 1e-3, "weight_decay": 0.05, "steps": 1500, "batch_size": 64, "warmup": 0.05}


@register("qlae_tiny", paper=52, modality="generation", train=TOKENIZER_TRAIN)
def qlae_tiny(image_size: int = 16, channels: int = 3, width: int = 16, dims: int = 4, levels: int = 8,
              downsample: int = 2, quantizer: str = "latent"):
    """QLAE tokenizer, laptop size: 16 px conv AE (÷2: 8x8 tokens), 4 latent dims x 8 learnable values, weight decay 0.1"""
    return QuantizedAutoencoder(image_size=image_size, channels=channels, width=width, dims=dims, levels=levels,
                                downsample=downsample, quantizer=quantizer)


def tokenizer_from(tokenizer_recipe: str, tokenizer_args: dict | None):
    tokenizer = create(tokenizer_recipe, **(tokenizer_args or {}))
    if getattr(tokenizer, "kind", None) != "tokenizer":
        raise ValueError(f"tokenizer_recipe={tokenizer_recipe!r} is not a tokenizer recipe (e.g. qlae_tiny)")
    return tokenizer


@register("maskgit_tiny", paper=21, modality="generation", train=GENERATOR_TRAIN)
def maskgit_tiny(tokenizer_recipe: str = "qlae_tiny", tokenizer_args: dict | None = None, dim: int = 64,
                 depth: int = 4, heads: int = 4, num_classes: int = 10, class_dropout: float = 0.1,
                 schedule: str = "cosine", head: str = "per_dimension"):
    """MaskGIT-style generator (laptop size): 4 blocks x 64 over a tokenizer run's codes, class token + CFG"""
    return MaskedTokenGenerator(tokenizer_from(tokenizer_recipe, tokenizer_args), dim=dim, depth=depth,
                                heads=heads, enc_depth=0, num_classes=num_classes, class_dropout=class_dropout,
                                schedule=schedule, head=head)


@register("enat_tiny", paper=47, modality="generation", train=GENERATOR_TRAIN)
def enat_tiny(tokenizer_recipe: str = "qlae_tiny", tokenizer_args: dict | None = None, dim: int = 64,
              enc_depth: int = 3, depth: int = 1, heads: int = 4, num_classes: int = 10, class_dropout: float = 0.1,
              schedule: str = "cosine", head: str = "per_dimension"):
    """ENAT generator (laptop size): visible tokens encoded alone (3 blocks), mask tokens decoded (1 block)"""
    return MaskedTokenGenerator(tokenizer_from(tokenizer_recipe, tokenizer_args), dim=dim, depth=depth,
                                heads=heads, enc_depth=enc_depth, num_classes=num_classes,
                                class_dropout=class_dropout, schedule=schedule, head=head)
