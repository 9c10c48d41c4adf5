"""The recipe registry: `anymae.create(name, **overrides)`, `anymae.list_recipes()`."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from ..registry import Registry

RECIPES = Registry("recipe")
RENAMED: dict[str, str] = {}  # a name that once built another architecture -> the recipe that builds that one now


@dataclass(frozen=True)
class Recipe:
    name: str
    build: Callable
    paper: int
    modality: str
    summary: str
    train: dict = field(default_factory=dict)  # PretrainConfig settings this recipe starts from
    finetune: dict = field(default_factory=dict)  # FinetuneConfig settings `anymae finetune` starts from
    legacy: dict = field(default_factory=dict)    # defaults that runs recording only their given arguments used

    def defaults(self) -> dict:
        """The recipe's arguments and their default values."""
        return {k: p.default for k, p in inspect.signature(self.build).parameters.items()
                if p.default is not inspect.Parameter.empty}

    @property
    def adds_position_task(self) -> bool:
        """A laptop variant that adds MP3's position task to its paper's objective by default."""
        return self.paper != 42 and (self.defaults().get("position_task") or 0) > 0

    def line(self) -> str:
        """Its `anymae recipes` summary, with `+MP3` where the position task is added to the paper's objective."""
        return f"{self.summary} [+MP3 position task]" if self.adds_position_task else self.summary


def register(name: str, paper: int, modality: str = "image", summary: str | None = None, train: dict | None = None,
             finetune: dict | None = None, formerly: str | None = None, legacy_defaults: dict | None = None):
    """Decorator: register a function (or partial) that builds a MaskedAutoencoder under `name`.

    The summary line is the function's first docstring line unless given. `train`: training settings
    (PretrainConfig fields, e.g. {"blr": 1e-3}) that `anymae pretrain` uses for this recipe unless a flag
    or --config sets them. `finetune`: FinetuneConfig fields that `anymae finetune` (not --linear) uses for
    this recipe's runs unless a flag sets them. `formerly`: the name this architecture was registered under
    before that name passed to another one; a run that names it and whose weights fit this recipe loads as this.
    `legacy_defaults`: a default changed since, with its old value ({"decoder_dim": 96}). Runs record every
    argument now, but the earlier ones recorded only the arguments given; they load with these old values.
    """
    def wrap(fn):
        if formerly:
            RENAMED[formerly] = name
        text = summary if summary is not None else (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        RECIPES.register(name, Recipe(name, fn, paper, modality, text, dict(train or {}),
                                      dict(finetune or {}), dict(legacy_defaults or {})))
        return fn
    return wrap


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES and name in RENAMED:
        raise ValueError(f"recipe {name!r} is now called {RENAMED[name]!r}")
    return RECIPES.get(name)


def create(name: str, **overrides):
    """Build recipe `name`; overrides must be arguments the recipe takes."""
    from .options import apply_options, split_options  # options any recipe takes (MFM, MTO)
    recipe = get_recipe(name)
    known = recipe.defaults()
    overrides, options = split_options(overrides)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"recipe {name!r} takes no argument(s) {unknown}; it takes {sorted(known)}")
    return apply_options(recipe.build(**overrides), **options)


def list_recipes() -> list[Recipe]:
    return [RECIPES[k] for k in sorted(RECIPES)]
