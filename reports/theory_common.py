"""What the theory experiments' figures and tables share: replicate statistics, tables, style."""
from __future__ import annotations

import math

LEGEND = {"fontsize": 9}  # readable at the figures' size on the report page


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) over replicates."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def over_replicates(points: list[dict], key: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
    """Per point, the mean and standard deviation of `key` over its replicates, times `scale`."""
    stats = [mean_std([r[key] * scale for r in p["replicates"]]) for p in points]
    return [m for m, _ in stats], [s for _, s in stats]


def cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def plus_minus(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    """`mean ± std` of the replicates' values, times `scale`, for a table cell."""
    mean, std = mean_std([v * scale for v in values])
    return f"{mean:.{digits}g} ± {std:.2g}"
