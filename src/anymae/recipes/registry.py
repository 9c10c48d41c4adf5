"""The recipe registry: `anymae.create(name, **overrides)`, `anymae.list_recipes()`."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

RECIPES: dict[str, "Recipe"] = {}


@dataclass(frozen=True)
class Recipe:
    name: str
    build: Callable
    paper: int
    modality: str
    summary: str
    train: dict = field(default_factory=dict)  # PretrainConfig settings this recipe starts from

    def defaults(self) -> dict:
        """The recipe's arguments and their default values."""
        return {k: p.default for k, p in inspect.signature(self.build).parameters.items()
                if p.default is not inspect.Parameter.empty}


def register(name: str, paper: int, modality: str = "image", summary: str | None = None, train: dict | None = None):
    """Decorator: register a function (or partial) that builds a MaskedAutoencoder under `name`.

    The summary line is the function's first docstring line unless given. `train`: training settings
    (PretrainConfig fields, e.g. {"blr": 1e-3}) that `anymae pretrain` uses for this recipe unless a flag
    or --config sets them.
    """
    def wrap(fn):
        if name in RECIPES:
            raise ValueError(f"recipe {name!r} is registered twice")
        text = summary if summary is not None else (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        RECIPES[name] = Recipe(name, fn, paper, modality, text, dict(train or {}))
        return fn
    return wrap


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def create(name: str, **overrides):
    """Build recipe `name`; overrides must be arguments the recipe takes."""
    recipe = get_recipe(name)
    known = recipe.defaults()
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"recipe {name!r} takes no argument(s) {unknown}; it takes {sorted(known)}")
    return recipe.build(**overrides)


def list_recipes() -> list[Recipe]:
    return [RECIPES[k] for k in sorted(RECIPES)]
