"""Targets by name, for `anymae pretrain --target NAME` (swaps the target of any recipe)."""
from __future__ import annotations

TARGETS: dict[str, type] = {}


def register_target(name: str):
    def wrap(cls):
        TARGETS[name] = cls
        return cls
    return wrap
