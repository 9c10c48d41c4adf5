"""One module a command: each defines `add(sub)` that adds its sub-parser and sets `handler`.

`anymae.cli` adds every module of this package after its own commands, in name order, so a new command is a
new file here and nothing else (no shared list to edit).
"""
from __future__ import annotations

import importlib
import pkgutil


def command_adders() -> list:
    """The `add(sub)` function of every module in this package, in module-name order."""
    adders = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        adders.append(module.add)
    return adders
