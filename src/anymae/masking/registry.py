"""Maskers by name, for recipes and `anymae pretrain --masker NAME --masker-arg k=v`."""
from __future__ import annotations

MASKERS: dict[str, type] = {}

# masker arguments every masker takes: they attach a mask-ratio schedule (masking/schedule.py)
SCHEDULE_ARGS = ("schedule", "ratio_start", "stages")


def register_masker(name: str):
    def wrap(cls):
        MASKERS[name] = cls
        cls.registered_name = name
        return cls
    return wrap


def make_masker(name: str, ratio: float | None = None, **kwargs):
    """Build masker `name`; `ratio` is passed when given (a `ratio` in kwargs wins).

    `schedule=constant|linear|cosine|progressive`, `ratio_start=` and `stages=` attach a mask-ratio
    schedule ending at the masker's ratio to any masker.
    """
    if name not in MASKERS:
        raise ValueError(f"unknown masker {name!r}; known: {', '.join(sorted(MASKERS))}")
    schedule = {k: kwargs.pop(k) for k in SCHEDULE_ARGS if k in kwargs}
    if ratio is not None and "ratio" not in kwargs:
        kwargs["ratio"] = ratio
    try:
        masker = MASKERS[name](**kwargs)
    except TypeError as err:
        raise ValueError(f"masker {name!r}: {err}") from None
    if schedule:
        from .schedule import make_schedule
        if "schedule" not in schedule:
            raise ValueError(f"masker {name!r}: ratio_start/stages need --masker-arg schedule=NAME")
        masker.schedule = make_schedule(schedule["schedule"], schedule.get("ratio_start"), masker.ratio,
                                        schedule.get("stages"))
    return masker


def install_masker(model, masker) -> None:
    """Put `masker` into a built MaskedAutoencoder, adding the loss parts it needs (`masker.aux_parts()`)
    that the model does not have yet."""
    model.masker = masker
    for part in masker.aux_parts():
        if any(type(p) is type(part) for p in model.aux):
            continue
        if hasattr(part, "bind"):
            part.bind(model)
        model.aux.append(part)


def apply_masker_config(model, name: str | None, args: dict | None = None) -> None:
    """A run config's `masker` / `masker_args` applied to the recipe's model (pretrain and load_run).

    The ratio is the recipe's masker ratio unless `args` names one.
    """
    if not name:
        return
    masker = make_masker(name, getattr(model.masker, "ratio", None), **dict(args or {}))
    install_masker(model, masker)
