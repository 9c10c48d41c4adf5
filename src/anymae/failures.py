"""How a command ends: one line on stderr and an exit code, never a traceback (docs/reliability.md).

| what happened | exit | printed |
|---|---|---|
| success | 0 | the command's own output |
| bad input: `ValueError`, a missing / existing / unreadable path, a setting Lightning refuses | 2 | `anymae CMD: error: <what, naming the setting or file>` |
| the run stopped for an outside reason (`RunError`: disk full, a diverged loss) | 1 | `anymae CMD: error: <what, and what survived>` |
| SIGINT (Ctrl-C) / SIGTERM | 130 / 143 | `anymae CMD: interrupted ...` (pretrain: the step and the resume command) |
| anything else: a bug | 1 | `anymae CMD: internal error: <type: message>` and the path of a log holding the traceback |

Every command, including those added as files in `anymae/commands/`, runs through `run_command`, so it
inherits this: a new command only raises `ValueError` for bad input.
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from .errors import Interrupted, RunError

# OSErrors that mean "this path is wrong", not "the machine failed": the user fixes them
PATH_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)
EXIT_BAD_INPUT, EXIT_FAILED = 2, 1
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}

# Integer / float flags any command may have, and the values that make sense for them. A command added
# later inherits these checks by naming its flags the same way (`--seed`, `--count`, `--batch-size`, ...).
AT_LEAST = {"seed": 0, "count": 1, "samples": 1, "steps": 1, "epochs": 1, "batch_size": 1, "accumulate": 1,
            "workers": 0, "dim": 1, "depth": 1, "heads": 1, "num_nodes": 1, "image_size": 1, "patch_size": 1,
            "save_every_n_steps": 0, "max_nonfinite_steps": 1, "keep_checkpoints": 1, "grid": 2, "k": 1,
            "top_k": 1, "limit": 1}
POSITIVE = ("lr", "blr")                      # numbers > 0
OPEN_FRACTION = ("mask_ratio",)               # numbers in (0, 1)
FRACTION = ("warmup",)                        # numbers in [0, 1)
KEEP_FRACTION = ("decoder_keep_ratio",)       # numbers in (0, 1]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_flag_values(args) -> None:
    """Refuse an impossible value of a common flag before the command starts, naming the flag."""
    import math
    for name, value in vars(args).items():
        if value is None or isinstance(value, bool):
            continue
        if name in AT_LEAST and isinstance(value, int) and value < AT_LEAST[name]:
            raise ValueError(f"{flag(name)} {value}: {name} must be a whole number >= {AT_LEAST[name]}")
        if not isinstance(value, float):
            continue
        bad = not math.isfinite(value) or \
            (name in POSITIVE and value <= 0) or \
            (name in OPEN_FRACTION and not 0 < value < 1) or \
            (name in FRACTION and not 0 <= value < 1) or \
            (name in KEEP_FRACTION and not 0 < value <= 1)
        if bad:
            rule = ("a number > 0" if name in POSITIVE else "a number strictly between 0 and 1" if name in OPEN_FRACTION
                    else "a number in [0, 1)" if name in FRACTION else "a number in (0, 1]" if name in KEEP_FRACTION
                    else "a finite number")
            raise ValueError(f"{flag(name)} {value}: {name} must be {rule}")


def one_line(err: BaseException) -> str:
    """An exception's message on one line (long messages are cut at 600 characters)."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in text:
        text = f"{err.filename}: {text}"
    return text if len(text) <= 600 else text[:597] + "..."


def log_dir() -> Path:
    """Where internal-error logs go: $ANYMAE_LOG_DIR, else <tmp>/anymae-logs."""
    return Path(os.environ.get("ANYMAE_LOG_DIR") or Path(tempfile.gettempdir()) / "anymae-logs")


def write_error_log(command: str, err: BaseException) -> Path | None:
    """The traceback of `err` with the command line and versions, in a new file under `log_dir()`."""
    from . import __version__
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"anymae-{command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        text = (f"anymae {__version__}, python {sys.version.split()[0]}\n"
                f"command line: {' '.join(sys.argv)}\n\n"
                + "".join(traceback.format_exception(type(err), err, err.__traceback__)))
        path.write_text(text)
        return path
    except OSError:
        return None


def is_misconfiguration(err: BaseException) -> bool:
    """Lightning's refusal of a setting (devices, accelerator, strategy, precision): bad input."""
    return type(err).__name__ == "MisconfigurationException"


@contextmanager
def terminate_raises():
    """SIGTERM raises `Interrupted` (exit 143) in the main thread, as Ctrl-C raises KeyboardInterrupt."""
    def on_term(signum, frame):
        raise Interrupted("terminated (SIGTERM)", EXIT_SIGNAL[signal.SIGTERM])
    try:
        before = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def close_progress_bars() -> None:
    """Close the progress bars an error left open, so the message starts a line of its own."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", None) or []):
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a bar that cannot close must not hide the message
            pass
    sys.stderr.flush()


def run_command(args, handler) -> int:
    """`handler(args)` -> its exit code; every failure becomes one line on stderr and an exit code."""
    name = getattr(args, "command", None) or "anymae"

    def say(text: str) -> None:
        close_progress_bars()
        print(f"anymae {name}: {text}", file=sys.stderr)
    try:
        check_flag_values(args)
        with terminate_raises():
            return handler(args) or 0
    except Interrupted as err:
        say(str(err))
        return err.code
    except KeyboardInterrupt:
        say("interrupted (SIGINT)")
        return EXIT_SIGNAL[signal.SIGINT]
    except RunError as err:
        say(f"error: {one_line(err)}")
        return EXIT_FAILED
    except (ValueError, *PATH_ERRORS) as err:
        say(f"error: {one_line(err)}")
        return EXIT_BAD_INPUT
    except OSError as err:  # disk full, I/O error: the machine, not the input
        say(f"error: {one_line(err)}")
        return EXIT_FAILED
    except SystemExit as err:
        if isinstance(err.code, str):  # sys.exit("message") from a command
            say(f"error: {one_line(Exception(err.code))}")
            return EXIT_BAD_INPUT
        raise
    except Exception as err:  # noqa: BLE001 - the last line of defence
        if is_misconfiguration(err):
            say(f"error: {one_line(err)}")
            return EXIT_BAD_INPUT
        log = write_error_log(name, err)
        where = f"the traceback is in {log}" if log else "no log could be written"
        say(f"internal error: {type(err).__name__}: {one_line(err)} ({where}; please report it)")
        return EXIT_FAILED
