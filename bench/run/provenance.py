"""Where a run came from, for the report: the code's git commit and the command that ran it.

Neither is part of the run's identity (bench/run/record.py): the same experiment run from another
commit or launched as part of another sweep is the same experiment.
"""
from __future__ import annotations

import functools
import shlex
import subprocess
from pathlib import Path

from bench.components import CONF_DIR

PROJECT_DIR = CONF_DIR.parent


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The project's commit (`<sha>+changes` when tracked files differ from it); None outside a git clone."""
    try:
        if Path(_git("rev-parse", "--show-toplevel")).resolve() != PROJECT_DIR:
            return None  # a copy of the project inside some other repository: not its commit
        sha = _git("rev-parse", "HEAD")
        changed = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+changes" if changed else sha


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(PROJECT_DIR), *args], capture_output=True, text=True, timeout=10,
                          check=True)
    return done.stdout.strip()


def job_command(overrides: list[str]) -> str:
    """The command line that runs this one job again: `python main.py` and its overrides."""
    return " ".join(["python", "main.py", *map(shlex.quote, overrides)])


def provenance(overrides: list[str]) -> dict:
    """The record's fields: `git_commit` and `command`."""
    return {"git_commit": git_commit(), "command": job_command(overrides)}
