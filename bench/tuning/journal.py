"""A study's journal file, checked line by line before Optuna replays it.

Optuna's journal is one JSON entry per line. Optuna reads a journal cut short (a kill or a full
disk during a write) once, then appends its next entry onto the cut line, after which no launch
can read it; garbage or another cell's journal end in tracebacks inside Optuna. The study
(bench/tuning/study.py) moves such a file aside and rebuilds the study from its trials' records.
"""
from __future__ import annotations

import json
from pathlib import Path


CREATE_STUDY = 0  # Optuna's journal operation code that names a study


def journal_problem(path: Path, study_name: str) -> str | None:
    """Why the journal at `path` cannot be this study's, read as text line by line, or None."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return "not text"
    if text and not text.endswith("\n"):
        return "its last entry is cut short (the write that made it was interrupted)"
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):  # ValueError covers JSONDecodeError and 5,000-digit numbers
            return f"line {number} is not a JSON entry"
        if not isinstance(entry, dict) or not isinstance(entry.get("op_code"), int):
            return f"line {number} is not a journal entry"
        if entry["op_code"] == CREATE_STUDY and entry.get("study_name") != study_name:
            return f"it holds study {str(entry.get('study_name'))[:80]!r}, not this cell's {study_name!r}"
    return None
