"""`anymae pretrain --target NAME`: a target by name; `MaskedAutoencoder.set_target` puts it in a model."""
from __future__ import annotations

from torch import nn

from .registry import TARGETS


def make_target(name: str, **kwargs) -> nn.Module:
    return TARGETS.build(name, **kwargs)
