"""Point-cloud generators (MAR-3D, `mar3d_tiny`) in the generative trainer (train/generative.py): their data
(clouds, not images) and the picture a finished run ends with. `prepare` and `generator_pictures` of
train/generative.py hand such recipes here."""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import PretrainConfig
from ..data import load_dataset
from ..data.points import clouds_of
from ..recipes import get_recipe
from ..spec import build_model


def is_point_generator(recipe: str) -> bool:
    """A generation recipe over point clouds (it takes `num_points`)."""
    spec = get_recipe(recipe)
    return spec.modality == "generation" and "num_points" in spec.defaults()


def prepare_points(config: PretrainConfig):
    """`prepare` for point generators -> (model, clouds [M,P,3], labels [M], data set)."""
    recipe = get_recipe(config.recipe)
    if config.tokenizer:
        raise ValueError(f"--tokenizer: {config.recipe!r} tokenizes the clouds itself (point patches); drop it")
    args = {**recipe.defaults(), **config.recipe_args}
    data = load_dataset(config.data, split="train", image_size=args["num_points"], seed=config.seed)
    clouds = clouds_of(data, args["num_points"], config.data)
    labels = data.labels.long()
    classes = len(data.classes) if getattr(data, "classes", None) and bool((labels >= 0).all()) else 0
    config.recipe_args.setdefault("num_classes", classes)
    if config.recipe_args["num_classes"] and int(labels.max()) >= config.recipe_args["num_classes"]:
        raise ValueError(f"num_classes={config.recipe_args['num_classes']}: the data has {classes} classes")
    config.recipe_args = {**recipe.defaults(), **config.recipe_args}   # every argument written down
    config.modality, config.mean, config.std = "points", None, None
    model = build_model(config.model_spec(), seed=config.seed)
    return model, clouds, labels, data


@torch.no_grad()
def point_pictures(model, config: PretrainConfig, run_dir: Path) -> dict:
    """samples.png of a finished point generator: 6 clouds a class, one row a class (`mar`, 8 steps)."""
    from ..viz.point_generation import cloud_grid
    classes = model.num_classes
    per = 6
    labels = torch.arange(classes).repeat_interleave(per) if classes else None
    clouds, _ = model.generate_points(per * max(1, classes), labels, steps=min(8, model.num_tokens),
                                      generator=torch.Generator().manual_seed(config.seed))
    data = load_dataset(config.data, split="train", image_size=model.tokenizer.num_points, seed=0)
    names = [str(n) for n in (getattr(data, "classes", None) or range(classes))] if classes else None
    cloud_grid(clouds, run_dir / "samples.png", per_row=per, row_titles=names)
    return {}
