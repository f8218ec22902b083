"""The `sketch_manifold` experiment's figure and report section (Lin, Song and Yang's sketched nets)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt

from reports.theory_common import LEGEND, over_replicates, plus_minus, table

FIT_NAMES = {"least_squares": "least squares, layer by layer", "backprop": "back-propagation, end to end"}


def _log_axis_ticks(ax, values: list[int]) -> None:
    ax.set_xticks(values, [str(v) for v in values])
    ax.xaxis.set_minor_locator(plt.NullLocator())


def _errors_against_sketch_size(ax, results: dict, fit: str) -> None:
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for color, (kind, points) in zip(colors, sorted(results["sketch_size_sweep"].items())):
        sizes = [p["sketch_size"] for p in points]
        for stat, style in (("mean", "o-"), ("max", "s--")):
            mean, std = over_replicates(points, f"{fit}_{stat}")
            ax.errorbar(sizes, mean, yerr=std, fmt=style, color=color, capsize=3,
                        label=f"{kind}, {'mean' if stat == 'mean' else 'worst point'}")
        k = results["manifold_dims"][kind]
        if k and fit == "least_squares":
            ax.plot(sizes, [results["bound_constant"] * math.sqrt(k / m) for m in sizes], ":", color=color,
                    label=f"C sqrt(k/m), k={k}")
    ax.set(xscale="log", yscale="log", xlabel="sketch size m", ylabel="relative output error (held out)",
           title=f"{FIT_NAMES[fit]}, n={results['widths'][0]}")
    _log_axis_ticks(ax, sizes)
    ax.legend(**LEGEND)


def _errors_against_input_dim(ax, results: dict, stat: str) -> None:
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for color, (kind, points) in zip(colors[1:], sorted(results["input_dim_sweep"].items())):  # kinds' colours
        dims = [p["input_dim"] for p in points]
        for fit, style in (("least_squares", "o-"), ("backprop", "^--")):
            mean, std = over_replicates(points, f"{fit}_{stat}")
            ax.errorbar(dims, mean, yerr=std, fmt=style, color=color, capsize=3,
                        label=f"{kind}, {fit.replace('_', ' ')}")
    name = "mean" if stat == "mean" else "worst-point"
    ax.set(xscale="log", yscale="log", xlabel="input dimension n", ylabel=f"{name} relative error (held out)",
           title=f"{name} error against n, m={results['fixed_sketch_size']}")
    _log_axis_ticks(ax, dims)
    ax.legend(**LEGEND)


def sketch_figure(results: dict):
    fig, axes = plt.subplots(2, 2, figsize=(12, 10), sharey=True)  # one scale: the panels compare directly
    _errors_against_sketch_size(axes[0, 0], results, "least_squares")
    _errors_against_sketch_size(axes[0, 1], results, "backprop")
    _errors_against_input_dim(axes[1, 0], results, "mean")
    _errors_against_input_dim(axes[1, 1], results, "max")
    return fig


def sketch_section(records: list[dict], out_dir, save) -> dict:
    rows, n_rows, figures = [], [], []
    for r in records:
        figures.append(save(sketch_figure(r), out_dir / f"theory_sketch_manifold_{r['config_hash']}.png"))
        for kind, points in r["sketch_size_sweep"].items():
            for p in points:
                reps = p["replicates"]
                rows.append([kind, r["widths"][0], p["sketch_size"],
                             *(plus_minus([x[f"{fit}_{stat}"] for x in reps]) for fit in FIT_NAMES
                               for stat in ("mean", "max"))])
        for kind, points in r["input_dim_sweep"].items():
            n_rows += [[kind, p["input_dim"], r["fixed_sketch_size"],
                        *(plus_minus([x[f"{fit}_mean"] for x in p["replicates"]]) for fit in FIT_NAMES)]
                       for p in points]
    text = ("Relative output error |sketched - original| / |original| of the sketched net on held-out points, "
            "mean ± standard deviation over replicates (net, sketch and points redrawn); `worst` is the worst "
            "held-out point.\n\n"
            + table(["inputs", "n", "m", "least squares: mean", "least squares: worst", "back-prop: mean",
                     "back-prop: worst"], rows)
            + "\n\nAgainst the ambient dimension n at a fixed sketch size:\n\n"
            + table(["inputs", "n", "m", "least squares: mean", "back-prop: mean"], n_rows))
    return {"title": "Sketched networks on manifolds (Lin, Song and Yang)", "markdown": text, "figures": figures}
