"""The report's charts as interactive plotly figures (the PNGs stay, for papers): a click on a
method in the legend hides or shows it, hovering a point shows its cell's figures, drag zooms.

Every string from a record (method labels, setup titles) is HTML-escaped before it enters a figure:
plotly renders some HTML in names and hover text.
"""
from __future__ import annotations

import html
import math

import pandas as pd
import plotly.graph_objects as go
from matplotlib.colors import to_hex

from bench.run.settings import parse_ratio
from reports.bytes_frontier import pareto_frontier
from reports.curves import cell_style, method_color
from reports.tables import verdict_text

LAYOUT = dict(template="plotly_white", height=460, margin=dict(l=60, r=20, t=50, b=50),
              legend=dict(title="click: hide / show", font=dict(size=11)), hovermode="closest")


def _cell_text(cell: pd.Series) -> str:
    """What hovering a cell's point shows."""
    std = "" if math.isnan(cell["test_error_std_pct"]) else f" ± {cell['test_error_std_pct']:.2f}"
    seeds = f"{cell['n_seeds']} seeds" + (f" (fewer than its column's {cell['n_expected']})" if cell["fewer_seeds"] else "")
    verdict = html.escape(verdict_text(cell).strip())
    stored = "" if math.isnan(cell["params_stored"]) else f"<br>{cell['params_stored']:,.0f} params stored"
    size = "" if math.isnan(cell["bytes_on_disk"]) else f", {cell['bytes_on_disk']:,.0f} bytes on disk"
    return (f"<b>{html.escape(str(cell['method_label']))}</b> at ratio {html.escape(str(cell['ratio']))} "
            f"(x{cell['compression_factor']:g})<br>test error {cell['test_error_mean_pct']:.2f}{std} %"
            f"{'<br>' + verdict if verdict else ''}<br>{seeds}"
            f"{stored}{size}")


PLOTLY_MARKER = {"o": "circle", "D": "diamond", "s": "square"}
PLOTLY_DASH = {"-": "solid", "--": "dash", ":": "dot"}


def _method_trace(label: str, method: str, tuning: str, methods: list[str], points: pd.DataFrame, x: str,
                  **style) -> go.Scatter:
    color, marker, line = cell_style(method, tuning, methods)
    symbol = PLOTLY_MARKER[marker]
    return go.Scatter(
        x=points[x], y=points["test_error_mean_pct"], name=html.escape(label), legendgroup=html.escape(label),
        text=[_cell_text(cell) for _, cell in points.iterrows()], hovertemplate="%{text}<extra></extra>",
        marker=dict(color=to_hex(color), size=9,
                    symbol=[f"{symbol}-open" if fewer else symbol for fewer in points["fewer_seeds"]]),
        line=dict(color=to_hex(color), dash=PLOTLY_DASH[line]), **style)


def curve_chart(cells: pd.DataFrame, paper: pd.DataFrame, title: str) -> str:
    """Test error against compression factor (log2 axis), one line per method, error bars over seeds."""
    methods = sorted(set(cells["method"]) | set(paper["method"]))
    figure = go.Figure()
    for (label, method, tuning), line in cells.groupby(["method_label", "method", "tuning"], sort=True):
        line = line.sort_values("compression_factor")
        figure.add_trace(_method_trace(label, method, tuning, methods, line, "compression_factor", mode="lines+markers",
                                       error_y=dict(type="data", array=line["test_error_std_pct"].fillna(0))))
    for method, points in paper.groupby("method"):
        figure.add_trace(go.Scatter(
            x=[float(1 / parse_ratio(r)) for r in points["ratio"]], y=points["test_error_pct"], mode="markers",
            name=f"paper: {html.escape(method)}", marker=dict(symbol="x", size=10, color=to_hex(method_color(method, methods))),
            hovertemplate=f"paper: {html.escape(method)}<br>test error %{{y:.2f}} %<extra></extra>"))
    factors = sorted(set(cells["compression_factor"].dropna()))
    figure.update_layout(title=dict(text=f"test error vs compression: {html.escape(title)}", font=dict(size=13)),
                         **LAYOUT)
    figure.update_xaxes(type="log", title="compression factor (1 / ratio)", tickvals=factors,
                        ticktext=[f"{f:g}" for f in factors])
    figure.update_yaxes(title="test error (%)")
    return _html(figure)


def frontier_chart(cells: pd.DataFrame, title: str) -> str:
    """Test error against bytes on disk (log axis), every method and ratio, the Pareto frontier as a staircase."""
    methods = sorted(set(cells["method"]))
    figure = go.Figure()
    for (label, method, tuning), points in cells.groupby(["method_label", "method", "tuning"], sort=True):
        figure.add_trace(_method_trace(label, method, tuning, methods, points.dropna(subset=["bytes_on_disk"]),
                                       "bytes_on_disk", mode="markers"))
    frontier = pareto_frontier(cells[cells["ranked"]])
    figure.add_trace(go.Scatter(x=frontier["bytes_on_disk"], y=frontier["test_error_mean_pct"], mode="lines",
                                line=dict(shape="hv", color="#555", dash="dot"), name="Pareto frontier",
                                hoverinfo="skip"))
    figure.update_layout(title=dict(text=f"test error vs bytes on disk: {html.escape(title)}", font=dict(size=13)),
                         **LAYOUT)
    figure.update_xaxes(type="log", title="bytes on disk")
    figure.update_yaxes(title="test error (%)")
    return _html(figure)


def _html(figure: go.Figure) -> str:
    """The figure's <div> and script; plotly.js itself is inlined once per page (interactive_page.py)."""
    return figure.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
