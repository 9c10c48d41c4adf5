"""`anymae pretrain --target NAME`: swap the target (and the loss that goes with it) of any recipe."""
from __future__ import annotations

from torch import nn

from ..losses import MSELoss
from .registry import TARGETS


def make_target(name: str, **kwargs) -> nn.Module:
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(sorted(TARGETS))}")
    try:
        return TARGETS[name](**kwargs)
    except TypeError as err:
        raise ValueError(f"target {name!r}: {err}") from None


def swap_target(model, name: str, args: dict | None = None) -> None:
    """Put target `name` into a built model: its loss (`make_loss`), its structural needs (`install`,
    e.g. MP3 drops positions) and a decoder output layer re-made at the target's width."""
    target = make_target(name, **dict(args or {}))
    model.target = target
    if hasattr(target, "install"):
        target.install(model)
    if hasattr(target, "bind"):
        target.bind(model)
    model.loss = target.make_loss(model.tokenizer) if hasattr(target, "make_loss") else MSELoss()
    model.decoder.bind(model.encoder.dim, target.dim(model.tokenizer),
                       model.tokenizer.position(model.decoder.dim, model.decoder.learnable_pos))
