"""Leaderboard tables of one setup as markdown: test error per method and ratio, and storage."""
from __future__ import annotations

import math

import pandas as pd

from reports.verdicts import FALLBACK


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(map(_table_cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_table_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def _table_cell(text: str) -> str:
    """A cell's text kept inside its cell: a `|` or line break from a record would split the row."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def error_text(cell) -> str:
    """`1.45 ± 0.05 (n=3)`, bold where tied for first, then the verdict against the column's best with
    the interval of the difference (reports/verdicts.py); a cell with fewer seeds than its column's
    others says so, and which of its seeds failed or are unfinished."""
    if cell["n_diverged"]:  # never a number: a diverged seed says the method failed to train here
        return f"diverged ({cell['n_diverged']} of {cell['n_runs']} seeds)"
    if cell["n_seeds"] == 0:
        text = "—"
    else:
        std = "" if math.isnan(cell["test_error_std_pct"]) else f" ± {cell['test_error_std_pct']:.2f}"
        text = f"{cell['test_error_mean_pct']:.2f}{std}"
        text = f"**{text}**" if cell.get("tied_first", cell["best"]) else text
        text = f"{text} (n={cell['n_seeds']}){verdict_text(cell)}"
    if not cell["fewer_seeds"] and not cell["failed_seeds"] and not cell["unfinished_seeds"]:
        return text
    why = [f"lacks {cell['missing_seeds']}" if cell["missing_seeds"] else "",
           f"failed: {cell['failed_seeds']}" if cell["failed_seeds"] else "",
           f"unfinished: {cell['unfinished_seeds']}" if cell["unfinished_seeds"] else ""]
    why = "; ".join(w for w in why if w)
    if cell["fewer_seeds"]:
        return f"{text} ⚠ fewer seeds than its column's others ({cell['n_seeds']} of {cell['n_expected']}; {why})"
    return f"{text} ({why})"


def verdict_text(cell) -> str:
    """` tied: +0.23 [-0.31, +0.80]`: the verdict and the interval of the difference to the best, in points."""
    verdict = cell.get("verdict", "")
    if verdict in ("", "best"):
        return f" {verdict}" if verdict else ""
    mark = "†" if cell["test"] == FALLBACK else ""
    if verdict == "untested":
        return f" untested{mark}"
    return f" {verdict}{mark}: {cell['diff_pct']:+.2f} [{cell['diff_low_pct']:+.2f}, {cell['diff_high_pct']:+.2f}]"


def storage_text(cell) -> str:
    if cell["n_seeds"] == 0:
        return "—"
    if cell["budget_unit"] == "bytes":
        return f"{cell['bytes_on_disk'] / 1e3:,.1f} of {cell['bytes_budget'] / 1e3:,.1f} kB; {int(cell['params_stored']):,} params"
    return f"{int(cell['params_stored']):,} of {int(cell['params_budget']):,} params; {cell['bytes_on_disk'] / 1e3:,.1f} kB"


def setup_tables(cells: pd.DataFrame, paper: pd.DataFrame, verdict_legend: str = "") -> str:
    """Two tables (test error; stored parameters and bytes on disk), methods as rows, ratios as columns;
    the paper's figures for a method in a row right under that method's rows."""
    columns = list(dict.fromkeys(cells.sort_values("compression_factor")["column"]))
    labels = sorted(cells["method_label"].unique())

    def grid(text, with_paper=False) -> list[list[str]]:
        rows = []
        for label in labels:
            own = cells[cells["method_label"] == label]
            by_column = {c["column"]: text(c) for _, c in own.iterrows()}
            rows.append([label] + [by_column.get(column, "— (no run)") for column in columns])
            method = own["method"].iloc[0]
            last_of_method = label == max(cells.loc[cells["method"] == method, "method_label"])
            if with_paper and last_of_method and method in set(paper["method"]):
                points = paper[paper["method"] == method]
                by_ratio = dict(zip(points["ratio"], points["test_error_pct"]))
                rows.append([f"paper: {method}"] + [_paper_text(by_ratio, column) for column in columns])
        return rows

    return "\n\n".join(filter(None, [
        "Test error (%), mean ± sample std over seeds (n seeds). " + (verdict_legend or
                                                                      "**bold**: best cell of its column. ")
        + "`(tuned)`: hyperparameters tuned on validation for that cell (`tuned=true`); no mark: the default recipe.",
        mixing_warning(cells, columns),
        markdown_table(["method"] + columns, grid(error_text, with_paper=True)),
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
