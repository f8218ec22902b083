"""The console commands `pip install -e .` installs (pyproject.toml, [project.scripts]).

Each runs a module of the clone exactly as `python main.py ...` or `python -m MODULE ...` does from
the clone's root, but from any folder: relative paths (`output_root`, `data_root`, `--out`) are
taken from the folder the user stands in. The clone goes on the command's import path and on
PYTHONPATH, so that a sweep's worker processes (joblib, submitit, Slurm jobs) import it too.
"""
from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

CLONE = Path(__file__).resolve().parents[1]


def _import_from_clone() -> None:
    if not (CLONE / "main.py").is_file():
        sys.exit(f"error: the harness is not in {CLONE}; install it from a clone with `pip install -e CLONE`")
    sys.path.insert(0, str(CLONE))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CLONE), os.environ.get("PYTHONPATH")]))


def _run_module(name: str) -> None:
    _import_from_clone()
    runpy.run_module(name, run_name="__main__", alter_sys=True)


def run() -> None:
    """`cbench [overrides]`: one run, or a sweep with `-m` (`python main.py`)."""
    _import_from_clone()
    sys.argv[0] = str(CLONE / "main.py")
    runpy.run_path(str(CLONE / "main.py"), run_name="__main__")


def leaderboard() -> None:
    """`cbench-leaderboard RESULTS... --out DIR` (`python -m reports.leaderboard`)."""
    _run_module("reports.leaderboard")


def theory_report() -> None:
    """`cbench-theory-report RESULTS --out DIR` (`python -m reports.theory`)."""
    _run_module("reports.theory")


def contact_sheet() -> None:
    """`cbench-contact-sheet DATASET [--out PNG]` (`python -m datasets.contact_sheet`)."""
    _run_module("datasets.contact_sheet")
