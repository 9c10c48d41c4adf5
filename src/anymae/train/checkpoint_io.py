"""Lightning checkpoints written atomically and read without unpickling arbitrary objects.

Saving: the whole checkpoint is serialised in memory, written to a temporary file in the same
folder, flushed to disk (fsync) and renamed over the target, so a kill or a full disk at any
moment leaves the previous file complete. Loading: `torch.load(weights_only=True)` always,
so a checkpoint from someone else cannot run code.
"""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from ..errors import RunError
from ..io.files import atomic_path

log = logging.getLogger("anymae.train")


def write_file(f, data: bytes) -> None:
    """Write `data` to the open file `f` (one place tests can slow down to kill a run mid-write)."""
    f.write(data)


def save_checkpoint_file(checkpoint: dict[str, Any], path: str | Path) -> None:
    """torch.save `checkpoint` to `path` atomically; an OSError becomes a RunError naming the path."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                write_file(f, buffer.getbuffer())
    except OSError as err:
        kept = sorted(p.name for p in path.parent.glob("*.ckpt"))
        what = err.strerror if err.strerror and str(path) in err.strerror else f"could not write {path}: {err}"
        raise RunError(f"{what}; the checkpoints written before are intact"
                       f" ({', '.join(kept) if kept else 'none yet'} in {path.parent})") from err


def load_checkpoint_file(path: str | Path, map_location=None) -> dict[str, Any]:
    """A Lightning checkpoint read with `weights_only=True`; refuses pickled code with a ValueError."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such checkpoint")
    try:
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError for truncated files, ...
        first_line = str(err).strip().split("\n")[0]
        raise ValueError(f"{path}: refused to load checkpoint ({type(err).__name__}: {first_line})") from None


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete `.NAME.*.tmp` files a killed write left in `folder`; returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
            log.warning("removed %s, left by a write that was interrupted", tmp)
        except OSError:
            pass
    return removed


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's CheckpointIO with atomic local writes and weights-only loading."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        save_checkpoint_file(checkpoint, path)

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only: bool | None = None):
        if weights_only is False:
            raise ValueError(f"{path}: anymae never loads checkpoints with weights_only=False")
        return load_checkpoint_file(path, map_location=map_location)
