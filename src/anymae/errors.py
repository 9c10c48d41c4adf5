"""Errors a user must act on: the CLI prints their message (naming the file or setting) and exits."""
from __future__ import annotations


class RunError(RuntimeError):
    """A run stopped for a reason outside the code's control: disk full, no permission, a diverged loss.

    The message names the path or setting and says what survived (earlier checkpoints, a last good state).
    """


class Interrupted(Exception):
    """SIGINT / SIGTERM stopped a command; `code` is the exit code (130 / 143). The message says what was
    kept and how to go on (pretrain: the step of the last checkpoint and the `--resume` command)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code
