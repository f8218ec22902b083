"""The verdict of each column in words: who is tied for first, who is worse, who diverged or could not be tested."""
from __future__ import annotations

import pandas as pd

from reports.verdicts import FALLBACK, VerdictOptions


def legend(options: VerdictOptions) -> str:
    """What the verdict marks in a table mean."""
    level = f"{100 * options.confidence:g}%"
    return (f"**bold**: tied for first in its column: the best mean (`best`) and every cell not significantly worse "
            f"(`tied`); `worse`: significantly worse. Beside each verdict, the difference to the column's best in "
            f"percentage points and its {level} interval (paired bootstrap over test examples and seeds, "
            f"{options.resamples:,} resamples; † an unpaired fallback from the records alone, where per-example "
            "predictions are missing; `untested`: too few seeds even for that). ")


def column_sentences(cells: pd.DataFrame, setup_label: str) -> str:
    """One sentence per column of one setup, e.g. `At 1/64 on mnist5k · mlp3: pruning (best), hashednets and
    hashednets_dk are tied for first; lowrank and nn are worse.`"""
    sentences = []
    for column, cells_of_column in cells.sort_values("compression_factor").groupby("column", sort=False):
        cells_of_column = cells_of_column.sort_values("test_error_mean_pct")
        named = lambda verdict: list(cells_of_column.loc[cells_of_column["verdict"] == verdict,  # noqa: E731
                                                         "method_label"])
        best, tied, worse, untested = named("best"), named("tied"), named("worse"), named("untested")
        diverged = list(cells_of_column.loc[cells_of_column["n_diverged"] > 0, "method_label"])
        parts = []
        if not best:
            parts.append("no cell has a number")
        elif not tied:
            parts.append(f"{best[0]} is best" + ("" if worse or untested else " (the only cell with a number)"))
        else:
            parts.append(f"{_listed([f'{best[0]} (best)'] + tied)} are tied for first")
        if worse:
            parts.append(f"{_listed(worse)} {'is' if len(worse) == 1 else 'are'} worse")
        if untested:
            parts.append(f"{_listed(untested)} could not be tested (no per-example predictions, and fewer than two seeds or no test-set size for the fallback)")
        if diverged:
            parts.append(f"{_listed(diverged)} diverged")
        fallback = cells_of_column.loc[cells_of_column["test"] == FALLBACK, "method_label"]
        note = f" (compared by the unpaired fallback: {_listed(list(fallback))})" if len(fallback) else ""
        sentences.append(f"- At {column} on {setup_label}: {'; '.join(parts)}.{note}")
    return "\n".join(sentences)


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
