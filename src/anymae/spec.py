"""A model spec (recipe + its arguments, masker, target, teachers) and `build_model`, the one function that
turns a spec into a model. pretrain, resume, `load_run`, import, probe, impute, reconstruct and export
all build through it; training settings live apart, in `anymae.config.PretrainConfig`."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Callable, Sequence

import torch

from .masking import make_masker
from .model import MaskedAutoencoder
from .recipes import create, get_recipe
from .recipes.options import MODEL_OPTIONS
from .targets import TARGETS, attach_teachers, make_target, teacher_parts

TEACHER_KEYS = ("recipe", "recipe_args", "target", "target_args")  # what a run records of each teacher


@dataclass
class ModelSpec:
    """What a model is, as config.yaml writes it: `recipe` with `recipe_args`, an optional `masker` and
    `target` swapped in (with their arguments), and frozen teachers: `teacher` (their run folders) and
    `teacher_configs` (their own specs, so a run rebuilds without the teachers' folders)."""

    recipe: str = "mae_laptop"
    recipe_args: dict = field(default_factory=dict)
    masker: str | None = None
    masker_args: dict = field(default_factory=dict)
    target: str | None = None
    target_args: dict = field(default_factory=dict)
    teacher: list = field(default_factory=list)
    teacher_configs: list = field(default_factory=list)

    @classmethod
    def from_config(cls, config) -> "ModelSpec":
        """From a run's config (a dict read from config.yaml, or a PretrainConfig)."""
        d = config if isinstance(config, dict) else {f.name: getattr(config, f.name) for f in fields(cls)}
        names = d.get("teacher") or []
        return cls(recipe=d["recipe"], recipe_args=dict(d.get("recipe_args") or {}), masker=d.get("masker"),
                   masker_args=dict(d.get("masker_args") or {}), target=d.get("target"),
                   target_args=dict(d.get("target_args") or {}), teacher=[names] if isinstance(names, str) else list(names),
                   teacher_configs=list(d.get("teacher_configs") or []))

    def teacher_specs(self) -> list["ModelSpec"]:
        return [ModelSpec.from_config({k: c.get(k) for k in TEACHER_KEYS if c.get(k) is not None})
                for c in self.teacher_configs]

    def validate(self) -> None:
        """Fail fast, before any data loads: unknown recipe, recipe argument, target or masker argument."""
        known = {**get_recipe(self.recipe).defaults(), **MODEL_OPTIONS}  # recipes/options.py: MFM, MTO
        unknown = sorted(set(self.recipe_args) - set(known))
        if unknown:
            raise ValueError(f"recipe {self.recipe!r} takes no argument(s) {unknown}; it takes {sorted(known)}")
        if self.target:
            TARGETS.get(self.target)
        if self.masker_args and not self.masker:
            raise ValueError("--masker-arg needs --masker NAME (the masker the arguments are for)")
        if self.masker:
            make_masker(self.masker, self.recipe_args.get("mask_ratio"), **self.masker_args)


def build_model(spec: ModelSpec, teachers: Callable[[], Sequence[MaskedAutoencoder]] | None = None,
                seed: int | None = None) -> MaskedAutoencoder:
    """The spec's model at init: the recipe, then its masker and target swapped in, then its frozen teachers:
    `teachers()` (trained models from earlier runs, loaded once the student is built, so the student's init
    never depends on them) or, when None, skeletons from `spec.teacher_configs` (a saved run's teachers,
    whose weights are in its own model.safetensors). `seed` seeds the init."""
    if seed is not None:
        torch.manual_seed(seed)
    try:
        model = create(spec.recipe, **spec.recipe_args)
    except ValueError as err:
        raise ValueError(f"recipe {spec.recipe!r} with {spec.recipe_args}: {err}") from None
    if spec.masker:
        model.set_masker(make_masker(spec.masker, getattr(model.masker, "ratio", None), **spec.masker_args))
    if spec.target:
        model.set_target(make_target(spec.target, **spec.target_args))
    teachers = teachers() if teachers is not None else [build_model(t) for t in spec.teacher_specs()]
    if teachers:
        attach_teachers(model, teachers, [str(t) for t in spec.teacher] or None)
    elif teacher_parts(model):
        raise ValueError(f"recipe {spec.recipe!r} (target {spec.target or 'its own'}) reads a frozen teacher: "
                         "pass --teacher RUN, a finished anymae run folder (e.g. a pixel-MAE run)")
    return model
