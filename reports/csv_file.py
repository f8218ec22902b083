"""The leaderboard's CSV: every string from a record is text to a spreadsheet program, never a formula.

A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets; such a cell is prefixed with `'` (OWASP's advice on CSV
injection), which those programs show as text. Numbers stay numbers.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.storage.files import write_atomically

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_spreadsheet_text(value):
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def write_csv(path: Path, table: pd.DataFrame) -> None:
    safe = table.copy()
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(as_spreadsheet_text)
    write_atomically(path, lambda tmp: safe.to_csv(tmp, index=False))
