"""Maskers by name, for recipes and `anymae pretrain --masker NAME --masker-arg k=v`."""
from __future__ import annotations

MASKERS: dict[str, type] = {}


def register_masker(name: str):
    def wrap(cls):
        MASKERS[name] = cls
        return cls
    return wrap


def make_masker(name: str, ratio: float | None = None, **kwargs):
    """Build masker `name`; `ratio` is passed when given."""
    if name not in MASKERS:
        raise ValueError(f"unknown masker {name!r}; known: {', '.join(sorted(MASKERS))}")
    if ratio is not None:
        kwargs["ratio"] = ratio
    try:
        return MASKERS[name](**kwargs)
    except TypeError as err:
        raise ValueError(f"masker {name!r}: {err}") from None
