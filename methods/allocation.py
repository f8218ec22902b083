"""Sizing a compressed model to its budget: one integer size per layer (rank, sketch rows, ...)."""
from __future__ import annotations

from dataclasses import dataclass

from bench.architecture import MLPSpec
from bench.budget import split_proportionally
from bench.errors import UserError


@dataclass(frozen=True)
class LayerCost:
    fixed: int      # numbers stored whatever the size (e.g. the bias)
    per_unit: int   # numbers stored per unit of size (e.g. per rank)
    max_units: int  # beyond this a larger size brings nothing

    def of(self, units: int) -> int:
        return self.fixed + self.per_unit * units


def too_small(method: str, needed: int, budget: int, spec: MLPSpec, what: str) -> UserError:
    """The one-line error of a method that cannot fit its smallest model in the budget."""
    return UserError(
        f"method={method} needs at least {needed} parameters ({what}) but the budget is {budget}; "
        f"the smallest ratio it supports for this model is {needed}/{spec.params_ref()} "
        f"(about 1/{spec.params_ref() // needed})"
    )


def sizes_within_budget(spec: MLPSpec, costs: list[LayerCost], budget: int, method: str, what: str) -> list[int]:
    """Sizes (at least 1 per layer) whose total cost fills as much of `budget` as the granularity allows.

    Each layer starts from its share of the budget, proportional to its reference size, as in
    HashedNets; what the rounding leaves is then given one unit at a time to the layer that is
    least grown relative to its maximum, among those whose next unit still fits.
    """
    needed = sum(c.of(1) for c in costs)
    if needed > budget:
        raise too_small(method, needed, budget, spec, what)
    shares = split_proportionally(budget, [(fan_in + 1) * fan_out for fan_in, fan_out in spec.layer_shapes()])
    units = [max(1, min(c.max_units, (share - c.fixed) // c.per_unit)) for c, share in zip(costs, shares)]

    def total() -> int:
        return sum(c.of(u) for c, u in zip(costs, units))

    while total() > budget:  # a layer raised to one unit took budget from the others
        shrinkable = [i for i, u in enumerate(units) if u > 1]
        units[max(shrinkable, key=lambda i: units[i] * costs[i].per_unit)] -= 1
    while True:
        left = budget - total()
        growable = [i for i, c in enumerate(costs) if units[i] < c.max_units and c.per_unit <= left]
        if not growable:
            return units
        units[min(growable, key=lambda i: units[i] / costs[i].max_units)] += 1
