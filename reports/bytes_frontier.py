"""Test error against bytes on disk: every method and ratio of one setup on one chart (log x axis),
with the lower-left (Pareto) frontier: the ranked cells (with a number) that no other beats on
both bytes and error."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from reports.curves import cell_style, save_figure  # noqa: E402

X, Y = "bytes_on_disk", "test_error_mean_pct"


def pareto_frontier(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells no other cell dominates (fewer or as many bytes and as low an error, one strictly), by bytes."""
    points = cells.dropna(subset=[X, Y]).sort_values([X, Y])
    kept, lowest = [], math.inf
    for index, error in points[Y].items():
        if error < lowest:
            kept.append(index)
            lowest = error
    return points.loc[kept]


def frontier_text(cells: pd.DataFrame) -> str:
    """The frontier's cells in words, fewest bytes first (the chart marks them with rings)."""
    frontier = pareto_frontier(cells[cells["ranked"]])
    if not len(frontier):
        return "Pareto frontier: no cell with a number yet."
    points = [f"{c['method_label']} {c['ratio']} ({_readable_bytes(round(c[X], -2))}, {c[Y]:.2f}%)"
              for _, c in frontier.iterrows()]
    return "Pareto frontier of test error against bytes on disk (cells with a number, fewest bytes first): " + \
        " → ".join(points) + "."


def _readable_bytes(value: float, _position=None) -> str:
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value:g} B"


def plot_bytes_frontier(cells: pd.DataFrame, title: str, path: Path) -> Path:
    """`cells`: one setup's cells; those with fewer seeds than their column's others are drawn open."""
    cells = cells[cells["n_seeds"] > 0]
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    methods = sorted(set(cells["method"]))
    for (label, method, tuning), points in cells.groupby(["method_label", "method", "tuning"], sort=True):
        points = points.sort_values(X)
        color, marker, style = cell_style(method, tuning, methods)
        ax.errorbar(points[X], points[Y], yerr=points["test_error_std_pct"].fillna(0), color=color, alpha=0.5,
                    linewidth=1, capsize=2, linestyle=style)
        ax.plot([], [], marker=marker, linestyle=style, color=color, label=label)  # the legend's entry at full colour
        done, partial = points[~points["fewer_seeds"]], points[points["fewer_seeds"]]
        ax.plot(done[X], done[Y], marker, color=color, linestyle="none")
        ax.plot(partial[X], partial[Y], marker, markersize=8, markerfacecolor="white", markeredgecolor=color)
    frontier = pareto_frontier(cells[cells["ranked"]])
    if len(frontier):
        ax.step(frontier[X], frontier[Y], where="post", color="black", linestyle="--", linewidth=1.2,
                label="Pareto frontier")
        ax.plot(frontier[X], frontier[Y], "o", markersize=11, markerfacecolor="none", markeredgecolor="black")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(FuncFormatter(_readable_bytes))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bytes on disk (exported checkpoint, log axis)")
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, ax, cells, title, path)
