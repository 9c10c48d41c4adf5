"""Errors a user must act on: the CLI prints their message (naming the file or setting) and exits."""
from __future__ import annotations


class RunError(RuntimeError):
    """A run stopped for a reason outside the code's control: disk full, no permission, a diverged loss.

    The message names the path or setting and says what survived (earlier checkpoints, a last good state).
    """
