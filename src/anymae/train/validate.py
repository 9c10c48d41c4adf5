"""Reject impossible settings before any data is read or any step is trained.

Every message starts with the setting's name (as written in config.yaml / `--arg`), its value
and what would make it valid.
"""
from __future__ import annotations

import math
from numbers import Integral, Real

import torch

from ..config import PretrainConfig


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


def _positive_int(name: str, v, flag: str = "") -> None:
    if not _is_int(v) or v < 1:
        raise ValueError(f"{name}={v!r}: must be a whole number >= 1{flag}")


def _sizes(name: str, v) -> tuple[int, ...]:
    values = tuple(v) if isinstance(v, (list, tuple)) else (v,)
    if not values or not all(_is_int(x) and x >= 1 for x in values):
        raise ValueError(f"{name}={v!r}: must be a whole number >= 1 (or a list of them)")
    return values


def validate_recipe_args(args: dict) -> None:
    """Checks on the recipe arguments every recipe family shares (when the recipe takes them)."""
    if "mask_ratio" in args:
        r = args["mask_ratio"]
        if not _is_real(r) or not 0.0 < r < 1.0:
            raise ValueError(f"mask_ratio={r!r}: must be a number strictly between 0 and 1 (--mask-ratio); "
                             "0 hides nothing to predict and 1 leaves the encoder nothing to see")
    if "patch_size" in args:
        patch = _sizes("patch_size", args["patch_size"])
        if "image_size" in args:
            image = _sizes("image_size", args["image_size"])
            if len(patch) == 1:
                patch = patch * len(image)
            if len(image) == 1:
                image = image * len(patch)
            if len(image) != len(patch) or any(i % p for i, p in zip(image, patch)):
                raise ValueError(f"image_size={args['image_size']!r} is not divisible by patch_size="
                                 f"{args['patch_size']!r} (--image-size / --patch-size): every side of the image "
                                 "must be a multiple of the patch side")
    for width, heads in (("dim", "heads"), ("decoder_dim", "decoder_heads")):
        if args.get(width) is not None and args.get(heads) is not None:
            _positive_int(width, args[width], f" (--arg {width}=N)")
            _positive_int(heads, args[heads], f" (--arg {heads}=N)")
            if args[width] % args[heads]:
                raise ValueError(f"{width}={args[width]} is not divisible by {heads}={args[heads]} "
                                 f"(--arg {width}=N --arg {heads}=M): each attention head needs {width}/{heads} "
                                 "channels")
    for depth in ("depth", "decoder_depth"):
        if args.get(depth) is not None:
            _positive_int(depth, args[depth], f" (--arg {depth}=N)")
    for rate in DROP_RATES:
        v = args.get(rate)
        if v is not None and (not _is_real(v) or not 0.0 <= v < 1.0):
            raise ValueError(f"{rate}={v!r}: a probability, must be a number in [0, 1) (--arg {rate}=P)")


DROP_RATES = ("drop_path", "drop_rate", "attn_drop", "proj_drop", "dropout", "decoder_drop_path")


def validate_config(config: PretrainConfig, recipe_defaults: dict | None = None) -> None:
    """Raise ValueError naming the first impossible setting of `config` (data-independent checks)."""
    if config.epochs is not None:  # None: derived from a step budget where the config has one
        _positive_int("epochs", config.epochs, " (--epochs)")
    if getattr(config, "steps", None) is not None:
        _positive_int("steps", config.steps, " (--steps)")
    _positive_int("batch_size", config.batch_size, " (--batch-size)")
    _positive_int("accumulate", config.accumulate, " (--accumulate)")
    _positive_int("max_nonfinite_steps", config.max_nonfinite_steps, " (--max-nonfinite-steps)")
    _positive_int("keep_checkpoints", config.keep_checkpoints, " (--keep-checkpoints)")
    if not _is_int(config.workers) or config.workers < 0:
        raise ValueError(f"workers={config.workers!r}: must be a whole number >= 0 (--workers)")
    if not _is_int(config.save_every_n_steps) or config.save_every_n_steps < 0:
        raise ValueError(f"save_every_n_steps={config.save_every_n_steps!r}: must be a whole number >= 0 "
                         "(--save-every-n-steps; 0 saves per epoch only)")
    if config.lr is not None and (not _is_real(config.lr) or config.lr <= 0):
        raise ValueError(f"lr={config.lr!r}: must be a number > 0 (--lr)")
    if not _is_real(config.blr) or config.blr <= 0:
        raise ValueError(f"blr={config.blr!r}: must be a number > 0 (--blr)")
    if not _is_real(config.warmup) or not 0.0 <= config.warmup < 1.0:
        raise ValueError(f"warmup={config.warmup!r}: a fraction of the steps, must be in [0, 1) (--warmup)")
    for name in ("min_lr", "weight_decay"):
        v = getattr(config, name)
        if not _is_real(v) or v < 0:
            raise ValueError(f"{name}={v!r}: must be a number >= 0")
    betas = tuple(config.betas)
    if len(betas) != 2 or not all(_is_real(b) and 0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"betas={list(betas)!r}: must be two numbers in [0, 1)")
    scale = tuple(config.crop_scale)
    if len(scale) != 2 or not all(_is_real(s) for s in scale) or not 0.0 < scale[0] <= scale[1] <= 1.0:
        raise ValueError(f"crop_scale={list(scale)!r}: must be two numbers with 0 < low <= high <= 1")
    if not _is_real(config.colour_jitter) or not 0.0 <= config.colour_jitter <= 1.0:
        raise ValueError(f"colour_jitter={config.colour_jitter!r}: must be a number in [0, 1]")
    validate_recipe_args({**(recipe_defaults or {}), **config.recipe_args})


def validate_data(config: PretrainConfig, data, name: str) -> None:
    """Checks that need the data: a full batch (drop_last), one optimizer step per epoch, finite samples."""
    size = len(data)
    if size < 1:
        raise ValueError(f"{name}: the data set is empty")
    if config.batch_size > size:
        raise ValueError(f"batch_size={config.batch_size} is larger than the data set ({size} samples in {name}); "
                         "batches are full (drop_last), so no step would run: lower --batch-size")
    if config.batch_size * config.accumulate > size:
        raise ValueError(f"accumulate={config.accumulate} x batch_size={config.batch_size} is more than the "
                         f"{size} samples in {name}: no optimizer step would run in an epoch; lower --accumulate")
    images = getattr(data, "images", None)
    if isinstance(images, torch.Tensor) and images.is_floating_point():
        finite = torch.isfinite(images.flatten(1)).all(1)
        if not bool(finite.all()):
            bad = (~finite).nonzero().flatten().tolist()
            raise ValueError(f"{name}: {len(bad)} sample(s) hold NaN or Inf values (indices {bad[:10]}"
                             f"{' ...' if len(bad) > 10 else ''}); clean or drop them")
