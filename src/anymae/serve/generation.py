"""The "generate" panel of `anymae serve` (no web framework in it): a generator run (`maskgit_tiny`, `enat_tiny`,
trained with `anymae pretrain --recipe maskgit_tiny --tokenizer TOK`) -> a PNG grid of samples drawn with the
library's samplers (anymae/generate/samplers: maskgit, and enat or recap where the run takes them), as
`anymae generate` draws them. Every bad setting raises `ServeError(status, message)`.
"""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import torch

from .engine import Runs, ServeError, run_dataset

MAX_COUNT = 64  # images one request may ask for


def recipe_kind(config: dict | None) -> str | None:
    """'generator', 'point-cloud generator' (MAR-3D: `anymae generate` draws it, this page does not),
    'tokenizer' (a generation recipe without its own sampler) or None (a masked autoencoder)."""
    from ..train.generative import is_generative, needs_tokenizer
    from ..train.generative_points import is_point_generator
    recipe = (config or {}).get("recipe")
    try:
        if not recipe or not is_generative(recipe):
            return None
        if is_point_generator(recipe):
            return "point-cloud generator"
        return "generator" if needs_tokenizer(recipe) else "tokenizer"
    except (KeyError, ValueError):   # a recipe this install does not know: the run tab says why it cannot load
        return None


def run_samplers(model) -> list[str]:
    """The samplers this generator takes: ENAT's split runs `enat`, a plain stack `recap` (joint, which trains
    a sampler layer first, stays with `anymae generate --sampler joint`)."""
    if getattr(model, "samplers", None):   # continuous tokens (mar, umd)
        return list(model.samplers)
    return ["maskgit", "enat"] if model.split else ["maskgit", "recap"]


def whole(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f"in {low}..{high}" if high is not None else f">= {low}"
        raise ServeError(422, f"{name} must be a whole number {bounds}, got {value!r}")
    return value


def real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ServeError(422, f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def class_names(config: dict, model) -> list[str]:
    try:
        data = run_dataset(config["data"], model.tokenizer.image_size, config.get("channels"))
        names = list(getattr(data, "classes", None) or [])
    except (ValueError, KeyError):
        names = []
    return [str(n) for n in names] if len(names) == model.num_classes else [str(c) for c in range(model.num_classes)]


def grid_labels(model, count: int, klass: int | None):
    """-> (labels [n] or None, images per row, one row a class?) laid out as `anymae generate` lays them out
    (`generate/request.py`); `klass` is checked by the caller."""
    from ..generate.request import requested_class_labels
    return requested_class_labels(model.num_classes, count, klass, per_row=8)


NOT_SERVED = {   # generation runs this panel cannot draw, and what to do instead
    "tokenizer": "a tokenizer run (serve the generator trained on it)",
    "point-cloud generator": "a point-cloud generator run (draw its clouds with `anymae generate RUN`; this page "
                             "draws images)",
}


def generator_model(runs: Runs, run_id: str | None):
    """-> (entry, model) of a generator run; any other run is a 422 saying what it is."""
    entry = runs.get(run_id)
    kind = recipe_kind(entry.config)
    if kind != "generator":
        what = NOT_SERVED.get(kind) or f"not a generator run (recipe {(entry.config or {}).get('recipe')!r}; " \
            "train one with `anymae pretrain --recipe maskgit_tiny --tokenizer TOK`)"
        raise ServeError(422, f"run {entry.id} is {what}")
    return entry, runs.model(entry.id)


@torch.no_grad()
def generate(runs: Runs, run_id: str | None, klass: int | None = None, steps: int = 8, sampler: str = "maskgit",
             temperature: float = 1.0, guidance: float = 0.0, seed: int = 0, count: int = 16) -> dict:
    """One request of `POST /api/generate` -> JSON-ready dict (`picture`: PNG bytes, popped by the caller):
    the settings, the run's classes and samplers, the passes of the network and the seconds sampling took."""
    from ..generate.samplers import sample
    from ..viz.generation import sample_grid
    entry, model = generator_model(runs, run_id)
    samplers = run_samplers(model)
    if sampler not in samplers:
        raise ServeError(400, f"sampler {sampler!r}: this run takes {', '.join(samplers)}")
    steps = whole(steps, "steps", 1, model.num_tokens)
    count = whole(count, "count", 1, MAX_COUNT)
    seed = whole(seed, "seed", 0, 2**63 - 1)
    temperature, guidance = real(temperature, "temperature"), real(guidance, "guidance")
    if klass is not None:
        if not model.num_classes:
            raise ServeError(422, "class: this generator was trained without classes (unconditional)")
        klass = whole(klass, "class", 0, model.num_classes - 1)
    labels, per_row, titles = grid_labels(model, count, klass)
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    started = time.perf_counter()
    with entry.lock:
        images, cost = sample(model, sampler, count=len(labels) if labels is not None else count,
                              labels=None if labels is None else labels.to(device), steps=steps, generator=g,
                              temperature=temperature, guidance=guidance)
    seconds = time.perf_counter() - started
    classes = class_names(entry.config, model) if model.num_classes else []
    with tempfile.TemporaryDirectory(prefix="anymae-serve-") as tmp:
        picture = sample_grid(images.cpu(), Path(tmp) / "samples.png", per_row=per_row,
                              row_titles=classes if titles else None).read_bytes()
    return {"run": entry.id, "class": klass, "steps": steps, "sampler": sampler, "temperature": temperature,
            "guidance": guidance, "seed": seed, "count": int(len(images)), "per_row": per_row,
            "seconds": round(seconds, 4), "full_passes": cost["full_passes"], "cheap_passes": cost["cheap_passes"],
            "num_tokens": model.num_tokens, "num_classes": model.num_classes, "classes": classes,
            "samplers": samplers, "picture": picture}
