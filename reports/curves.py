"""Accuracy-vs-compression curves: test error against compression factor (log2 axis), one line
per method with error bars over seeds (sample std), the paper's figures as separate markers.

A method's default-recipe, tuned and custom-hyperparameter rows share its hue but never a look:
tuned is a darker shade, drawn dashed with diamonds; custom a lighter one, dotted with squares.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bench.run.settings import parse_ratio  # noqa: E402
from bench.storage.files import write_figure_atomically  # noqa: E402


# Every method keeps one colour in every figure; unknown methods take the remaining ones.
METHOD_COLOR_ORDER = ("dense", "nn", "hashednets", "hashednets_dk", "dk", "lowrank", "rer", "pruning", "sketch")


# Where a cell's hyperparameters came from (reports/cells.py `tuning`) -> (shade, marker, line style).
# Shade: how far the method's colour is mixed towards black (< 0) or white (> 0).
TUNING_STYLE = {"default": (0.0, "o", "-"), "tuned": (-0.45, "D", "--"), "custom": (0.45, "s", ":")}


def method_color(method: str, others: list[str]):
    palette = plt.get_cmap("tab10").colors
    order = list(METHOD_COLOR_ORDER) + sorted(m for m in others if m not in METHOD_COLOR_ORDER)
    return palette[order.index(method) % len(palette)]


def cell_style(method: str, tuning: str, others: list[str]) -> tuple:
    """(colour, marker, line style) of a method's cells with this `tuning`."""
    shade, marker, line = TUNING_STYLE.get(tuning, TUNING_STYLE["custom"])
    target = 0.0 if shade < 0 else 1.0
    color = tuple(c + abs(shade) * (target - c) for c in method_color(method, others))
    return color, marker, line


def plot_curve(cells: pd.DataFrame, paper: pd.DataFrame, title: str, path: Path) -> Path:
    """`cells`: one setup's cells. Cells with fewer seeds than their column's others are drawn open."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    methods = sorted(set(cells["method"]) | set(paper["method"]))
    colors = {method: method_color(method, methods) for method in methods}
    for (label, method, tuning), line in cells.groupby(["method_label", "method", "tuning"], sort=True):
        line = line.sort_values("compression_factor")
        color, marker, style = cell_style(method, tuning, methods)
        ax.errorbar(line["compression_factor"], line["test_error_mean_pct"], yerr=line["test_error_std_pct"].fillna(0),
                    capsize=3, label=label, color=color, linestyle=style, marker=marker, markersize=6)
        partial = line[line["fewer_seeds"]]
        ax.plot(partial["compression_factor"], partial["test_error_mean_pct"], marker, markersize=8,
                markerfacecolor="white", markeredgecolor=color)
    for method, points in paper.groupby("method"):
        factors = [float(1 / parse_ratio(r)) for r in points["ratio"]]
        ax.plot(factors, points["test_error_pct"], "x", markersize=9, color=colors[method],
                label=f"paper: {method}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("compression factor (1 / ratio, log2 axis)")
    ax.grid(True, alpha=0.3)
    return save_figure(fig, ax, cells, title, path)


def save_figure(fig, ax, cells: pd.DataFrame, title: str, path: Path) -> Path:
    """Title, error axis label, legend and the incomplete-cell note; written atomically as PNG."""
    ax.set_ylabel("test error (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    if cells["fewer_seeds"].any():
        ax.text(0.01, 0.01, "open marker: fewer seeds than its column's others", transform=ax.transAxes, fontsize=7)
    write_figure_atomically(path, fig)
    plt.close(fig)
    return path
