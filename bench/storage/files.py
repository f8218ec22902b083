"""Atomic writes: a reader never sees a half-written file."""
from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Callable


# Errors that say the file system refuses writes (the disk is full, a read-only mount, a quota).
WRITE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM)


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it over `path`.

    The file gets the mode of any new file under the user's umask (mkstemp's own is 0600, which
    would hide results from a group sharing the folder). An OSError names `path`, not the temporary file.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from None
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise


def file_system_problem(err: OSError) -> str:
    """One line for an OSError: the path and the system's reason, e.g. `cannot write PATH: No space left on device`."""
    path = err.filename if err.filename is not None else "a file"
    reason = err.strerror or str(err)
    return f"cannot write {path}: {reason}" if err.errno in WRITE_ERRNOS else f"file system error on {path}: {reason}"


def _umask() -> int:
    """The process's umask (reading it means setting it: set it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FIGURE_DPI = 110  # every figure the harness writes (reports, theory runs, contact sheets)


def write_figure_atomically(path: Path, figure) -> None:
    """A matplotlib figure as PNG at FIGURE_DPI, laid out tightly, written atomically like every other file."""
    figure.tight_layout()
    write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=FIGURE_DPI))


def write_json_atomically(path: Path, obj) -> None:
    """Always valid JSON: a non-finite float (NaN, Infinity) is written as null."""
    text = json.dumps(_finite(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text))


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj
