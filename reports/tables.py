"""Leaderboard tables of one setup as markdown: test error per method and ratio, and storage."""
from __future__ import annotations

import math

import pandas as pd


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(map(_table_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_table_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def _table_cell(text: str) -> str:
    """A cell's text kept inside its cell: a `|` or line break from a record would split the row."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def error_text(cell) -> str:
    """`1.45 ± 0.05 (n=3)`, bold where best; incomplete cells say what is missing and why."""
    if cell["n_seeds"] == 0:
        text = "—"
    else:
        std = "" if math.isnan(cell["test_error_std_pct"]) else f" ± {cell['test_error_std_pct']:.2f}"
        text = f"{cell['test_error_mean_pct']:.2f}{std}"
        text = f"**{text}**" if cell["best"] else text
    if cell["n_diverged"]:  # never a number: a diverged seed says the method failed to train here
        return f"diverged ({cell['n_diverged']} of {cell['n_expected']} seeds)"
    if cell["complete"]:
        return f"{text} (n={cell['n_seeds']})"
    why = [f"failed: {cell['failed_seeds']}" if cell["failed_seeds"] else "",
           f"unfinished: {cell['unfinished_seeds']}" if cell["unfinished_seeds"] else ""]
    why = "; ".join(w for w in why if w) or "no run"
    return f"{text} ⚠ incomplete (n={cell['n_seeds']} of {cell['n_expected']}; missing seeds {cell['missing_seeds']}: {why})"


def storage_text(cell) -> str:
    if cell["n_seeds"] == 0:
        return "—"
    if cell["budget_unit"] == "bytes":
        return f"{cell['bytes_on_disk'] / 1e3:,.1f} of {cell['bytes_budget'] / 1e3:,.1f} kB; {int(cell['params_stored']):,} params"
    return f"{int(cell['params_stored']):,} of {int(cell['params_budget']):,} params; {cell['bytes_on_disk'] / 1e3:,.1f} kB"


def setup_tables(cells: pd.DataFrame, paper: pd.DataFrame) -> str:
    """Two tables (test error; stored parameters and bytes on disk), methods as rows, ratios as columns."""
    columns = list(dict.fromkeys(cells.sort_values("compression_factor")["column"]))
    methods = sorted(cells["method_label"].unique())

    def grid(text) -> list[list[str]]:
        rows = []
        for method in methods:
            by_column = {c["column"]: text(c) for _, c in cells[cells["method_label"] == method].iterrows()}
            rows.append([method] + [by_column.get(column, "— (no run)") for column in columns])
        return rows

    errors = grid(error_text)
    for method, points in paper.groupby("method"):
        by_ratio = dict(zip(points["ratio"], points["test_error_pct"]))
        errors.append([f"paper: {method}"] + [_paper_text(by_ratio, column) for column in columns])
    return "\n\n".join(filter(None, [
        "Test error (%), mean ± sample std over seeds (n seeds); **bold**: best complete cell of its column. "
        "`(tuned)`: hyperparameters tuned on validation for that cell (`tuned=true`); no mark: the default recipe.",
        mixing_warning(cells, columns),
        markdown_table(["method"] + columns, errors),
        "Storage: what is stored of the budget (parameters, or under a byte budget the exported checkpoint's bytes "
        "on disk, mean over seeds), and the other measure.",
        markdown_table(["method"] + columns, grid(storage_text)),
    ]))


def mixing_warning(cells: pd.DataFrame, columns: list[str]) -> str:
    """A warning naming the columns that compare tuned cells with default-recipe ones."""
    kinds = cells.groupby("column")["tuning"].agg(set)
    mixed = [c for c in columns if {"tuned", "default"} <= kinds.get(c, set())]
    if not mixed:
        return ""
    return (f"⚠ Columns {', '.join(mixed)} mix tuned and default-recipe cells: a tuned method had a chance the "
            "others did not; compare like with like (all `(tuned)` rows, or none).")


def _paper_text(by_ratio: dict, column: str) -> str:
    ratio = column.split(" ")[0]
    return f"{by_ratio[ratio]:.2f} (paper)" if ratio in by_ratio else ""
