"""A run folder is never damaged by another command (docs/reliability.md, guarantee 7).

`check_new_run_folder` refuses, before anything is loaded or built, a `--out` that is a file, sits under
an unwritable folder, or already holds files (unless `--overwrite`, and then only an anymae run folder).
`RunFolderLock` is taken only after every check has passed and the Trainer is built: an exclusive lock
on the folder itself (flock on its directory handle, released by the kernel whatever ends the process),
so a second `pretrain` into the same folder at the same time is refused, and `--overwrite` clears the
folder only while holding it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the emptiness checks still hold
    fcntl = None


def folder_bytes(folder: str | Path) -> int:
    """Bytes held by the files under `folder` (recursive)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def writable_parent(path: Path) -> Path:
    """The nearest existing folder above `path`; ValueError when it is not a folder or not writable."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--out {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {path}: cannot create it, {parent} is not writable")
    return parent


def check_new_run_folder(run_dir: Path, overwrite: bool, data: str | None = None) -> None:
    """Refuse a `--out` that a new run may not write into; touches nothing."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"--out {run_dir}: is a file, not a folder")
    if not run_dir.exists():
        writable_parent(run_dir)
        return
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise ValueError(f"--out {run_dir}: the folder is not writable")
    if not any(run_dir.iterdir()):
        return
    if not overwrite:
        raise ValueError(f"--out {run_dir}: the folder already holds files (a finished or running run?); "
                         "choose another --out, continue it with --resume, or replace it with --overwrite")
    if not (run_dir / "config.yaml").exists():
        raise ValueError(f"--out {run_dir}: not an anymae run folder (no config.yaml) and not empty; "
                         "--overwrite only clears run folders")
    if data is not None and Path(data).exists() and Path(data).resolve().is_relative_to(run_dir.resolve()):
        raise ValueError(f"--data {data} lies inside --out {run_dir}, which --overwrite would delete")


def clear_folder(folder: Path) -> None:
    """Remove everything inside `folder` (the folder itself stays, so its lock holds)."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class RunFolderLock:
    """Exclusive lock on a run folder for the life of a training process (created when missing).

    `fresh=True` (a new run): under the lock the folder must still be empty, or is cleared when
    `overwrite`; a run that finished meanwhile is not replaced silently.
    """

    def __init__(self, run_dir: str | Path, fresh: bool = False, overwrite: bool = False):
        self.run_dir, self.fresh, self.overwrite = Path(run_dir), fresh, overwrite
        self.fd: int | None = None

    def __enter__(self) -> "RunFolderLock":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if fcntl is not None:
            self.fd = os.open(self.run_dir, os.O_RDONLY)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self.fd)
                self.fd = None
                raise ValueError(f"{self.run_dir}: another anymae process is writing this run folder right now; "
                                 "wait for it to end, or choose another --out") from None
        try:
            if self.fresh and any(self.run_dir.iterdir()):
                if not self.overwrite:
                    raise ValueError(f"--out {self.run_dir}: the folder already holds files; choose another "
                                     "--out, continue it with --resume, or replace it with --overwrite")
                clear_folder(self.run_dir)
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def __exit__(self, *exc) -> None:
        self.release()
