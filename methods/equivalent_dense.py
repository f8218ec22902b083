"""`nn`: the equivalent-size dense model: the same family with every hidden width scaled by one
multiplier, the largest whose parameters fit the budget.

Every model family takes a `width` multiplier (models/); the search counts parameters on models
built on the meta device (no memory, no random numbers) and bisects the multiplier, whose
parameter count only grows with it.
"""
from __future__ import annotations

from torch import nn

from bench.compression.model_factory import params_of
from bench.errors import UserError
from methods.base import Method

SMALLEST_WIDTH = 1e-6  # every hidden width rounds up to 1 unit here
BISECTION_STEPS = 40   # the multiplier to within 1e-12: finer than any family's width granularity


def width_within_budget(factory, budget: int) -> float:
    """The largest width multiplier in (0, 1] whose dense model stores at most `budget` parameters."""
    def params(width: float) -> int:
        return params_of(factory.build_on_meta(width=width))

    smallest, ref = params(SMALLEST_WIDTH), params(1.0)
    if smallest > budget:
        raise UserError(
            f"method=nn cannot fit even one unit per hidden layer ({smallest} parameters) in a budget of "
            f"{budget}; the smallest ratio it supports for this model is {smallest}/{ref} (about 1/{ref // smallest})"
        )
    if ref <= budget:
        return 1.0
    low, high = SMALLEST_WIDTH, 1.0  # params(low) <= budget < params(high)
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if params(middle) <= budget else (low, middle)
    return low


class EquivalentDense(Method):
    def build(self, factory, budget: int, seed: int) -> nn.Module:
        return factory.build(width=width_within_budget(factory, budget))
