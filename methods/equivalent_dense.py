"""`nn`: the equivalent-size dense net (same depth, hidden layers narrowed to fit the budget)."""
from __future__ import annotations

from torch import nn

from bench.architecture import MLP, MLPSpec
from bench.errors import UserError
from methods.base import Method


def narrowest_spec(spec: MLPSpec) -> MLPSpec:
    return spec.with_hidden([1] * len(spec.hidden))


def widths_within_budget(spec: MLPSpec, budget: int) -> tuple[int, ...]:
    """Hidden widths (each at most the original) whose dense net stores as much as fits in `budget`.

    First the widest uniform shrink that fits, then single units added greedily, cheapest
    first, which fills the budget up to less than the cost of one hidden unit.
    """
    smallest = narrowest_spec(spec).params_ref()
    if smallest > budget:
        raise UserError(
            f"method=nn cannot fit even one hidden unit per layer ({smallest} parameters) in a budget of "
            f"{budget}; the smallest ratio it supports for this model is {smallest}/{spec.params_ref()} "
            f"(about 1/{spec.params_ref() // smallest})"
        )
    uniform = 1
    while all(uniform + 1 <= h for h in spec.hidden) and _cost(spec, [uniform + 1] * len(spec.hidden)) <= budget:
        uniform += 1
    widths = [min(uniform, h) for h in spec.hidden]
    while True:
        growable = [i for i, h in enumerate(spec.hidden) if widths[i] < h]
        grown = [widths[:i] + [widths[i] + 1] + widths[i + 1:] for i in growable]
        fitting = [w for w in grown if _cost(spec, w) <= budget]
        if not fitting:
            return tuple(widths)
        widths = min(fitting, key=lambda w: _cost(spec, w))


def _cost(spec: MLPSpec, hidden) -> int:
    return spec.with_hidden(hidden).params_ref()


class EquivalentDense(Method):
    def build(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        narrowed = spec.with_hidden(widths_within_budget(spec, budget))
        return MLP(narrowed, lambda index, fan_in, fan_out: nn.Linear(fan_in, fan_out))
