"""One registry helper for every named collection (recipes, maskers, targets, extra terms, built-in data,
modalities, folder loaders, mask-ratio schedules): register under a name, look up with a clear error."""
from __future__ import annotations

from typing import Any, Callable


class Registry(dict):
    """name -> entry, for one `kind` of thing. A dict, so `name in R`, `sorted(R)`, `R[name]` work."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str, entry: Any = None):
        """`R.register(name, entry)`, or `@R.register(name)` on a class or function. A class learns its
        `registered_name`."""
        def add(value):
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if isinstance(value, type):
                value.registered_name = name
            self[name] = value
            return value
        return add if entry is None else add(entry)

    def get(self, name: str, *default) -> Any:
        """The entry `name`; unknown names are a ValueError listing the known ones (unless a default is given)."""
        if name not in self:
            if default:
                return default[0]
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self))}")
        return self[name]

    def build(self, name: str, **kwargs) -> Any:
        """Call the entry `name` with `kwargs`; a wrong argument is a ValueError naming the entry."""
        make: Callable = self.get(name)
        try:
            return make(**kwargs)
        except TypeError as err:
            raise ValueError(f"{self.kind} {name!r}: {err}") from None
