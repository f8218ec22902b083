"""The `width` option every model family takes: a multiplier of its hidden widths / channel counts."""
from __future__ import annotations


def scaled_width(width: int, multiplier: float) -> int:
    """A layer width times the model's width multiplier, at least 1."""
    return max(1, round(width * multiplier))
