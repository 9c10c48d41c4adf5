"""Weights as safetensors; runs as folders (config.yaml + model.safetensors); safe loading only."""
from __future__ import annotations

from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file

from ..recipes.registry import RECIPES, RENAMED
from ..spec import ModelSpec, build_model
from .files import atomic_path


def save_weights(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write a state dict as safetensors, atomically (tensors made contiguous, shared storage cloned)."""
    tensors = {k: v.detach().contiguous().clone() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read weights without unpickling: safetensors, or torch files with `weights_only=True`."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(f"{path}: not a valid safetensors file ({err})") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: refused to load: {err}".split("\n")[0]) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    return obj


def read_config(path: str | Path) -> dict:
    """A run's config.yaml, read with the safe YAML loader."""
    path = Path(path)
    try:
        with open(path) as f:
            config = yaml.safe_load(f)
    except FileNotFoundError:
        raise ValueError(f"{path}: no config.yaml here; is this an anymae run folder?") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a mapping of settings")
    return config


def with_legacy_defaults(config: dict) -> dict:
    """A run's config with the recipe defaults it was built with. Runs made before config.yaml recorded every
    recipe argument hold only the given ones; where the recipe's default has changed since
    (`register(legacy_defaults=...)`), the old value is filled in. Teachers' recorded specs likewise."""
    name = config.get("recipe")
    recipe = RECIPES.get(name) if name in RECIPES else RECIPES.get(RENAMED[name]) if name in RENAMED else None
    args = dict(config.get("recipe_args") or {})
    old = {k: v for k, v in (recipe.legacy if recipe else {}).items() if k not in args}
    teachers = [with_legacy_defaults(t) for t in config.get("teacher_configs") or []]
    if not old and not teachers:
        return config
    return {**config, "recipe_args": {**old, **args}, **({"teacher_configs": teachers} if teachers else {})}


def read_run_config(run: str | Path) -> dict:
    """A run folder's config.yaml (`read_config`), with the recipe defaults the run was built with."""
    return with_legacy_defaults(read_config(Path(run) / "config.yaml"))


def weights_misfit(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """Why `state` does not load into `model` (missing or unexpected keys, a shape), or None when it fits."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        return f"missing {missing[:8]}, unexpected {unexpected[:8]}"
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            return f"{key} is {list(value.shape)} in the file, {list(own[key].shape)} in the recipe"
    return None


def fitting_recipe(config, state: dict[str, torch.Tensor]) -> tuple[str, torch.nn.Module, str | None]:
    """The recipe whose model `state` fits: the config's own, or the one its name passed to since the run was
    made (`register(formerly=...)`). -> (recipe, its model at random init, why `state` does not fit it or None).
    `config`: a run's config dict or a PretrainConfig."""
    as_dict = config if isinstance(config, dict) else vars(config)
    name = as_dict["recipe"]
    successor = RENAMED.get(name)
    if name not in RECIPES and successor:  # a retired name
        name, successor = successor, None
    model = build_model(ModelSpec.from_config({**as_dict, "recipe": name}))
    misfit = weights_misfit(model, state)
    if misfit and successor:
        other = build_model(ModelSpec.from_config({**as_dict, "recipe": successor}))
        if weights_misfit(other, state) is None:
            return successor, other, None
    return name, model, misfit


def load_run(run: str | Path, weights: str = "model.safetensors"):
    """A run folder -> (model with its trained weights, config dict).

    A run made under a recipe name that has since passed to another architecture (`register(formerly=...)`)
    loads as the recipe that builds its architecture now; the returned config names that recipe.
    """
    run = Path(run)
    config = read_run_config(run)
    if (run / "tokenizer.json").is_file():  # text runs: their vocabulary, wherever the folder now is
        config["tokenizer"] = str(run / "tokenizer.json")
    state = load_weights(run / weights)
    recipe, model, misfit = fitting_recipe(config, state)
    config = {**config, "recipe": recipe}
    if misfit:
        raise ValueError(f"{run / weights}: weights do not fit recipe {recipe!r}: {misfit}")
    model.load_state_dict(state)
    return model.eval(), config


def build_untrained(config: dict, seed: int = 0):
    """The run's architecture at random init (the probe's baseline)."""
    return build_model(ModelSpec.from_config(config), seed=seed).eval()
