"""Atomic writes: every file the project makes is written to a temporary file beside it, flushed and renamed."""
from __future__ import annotations

import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path in the same folder; on success it replaces `path` atomically.

    A failure (or a kill) before the rename leaves any earlier `path` untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise OSError(err.errno, f"could not write {path}: {err.strerror or err}") from err
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise OSError(err.errno, f"could not write {path}: {err.strerror or err}") from err
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def fsync_buffer(buffer: io.BytesIO, path: str | Path) -> None:
    write_bytes(path, buffer.getvalue())
