"""Targets by name, for `anymae pretrain --target NAME` (swaps the target of any recipe)."""
from __future__ import annotations

from ..registry import Registry

TARGETS = Registry("target")


def register_target(name: str):
    return TARGETS.register(name)


def make_target(name: str, **kwargs):
    """Target `name` built with `kwargs`; `MaskedAutoencoder.set_target` puts it in a model."""
    return TARGETS.build(name, **kwargs)
