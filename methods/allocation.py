"""Sizing a compressed model to its budget: which layers are compressed, and one integer size per layer
(buckets, rank, sketch rows, kept weights...)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from torch import nn

from bench.compression.model_factory import params_of
from methods.compressible import Site, compressible_layers, replace_layer
from bench.errors import UserError


def split_proportionally(total: int, sizes: list[int]) -> list[int]:
    """Integer shares of `total` proportional to `sizes`, summing exactly to `total`.

    Floors first, then the remainder one by one to the largest fractional parts.
    """
    whole = sum(sizes)
    exact = [Fraction(total * s, whole) for s in sizes]
    shares = [math.floor(e) for e in exact]
    by_fraction = sorted(range(len(sizes)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_fraction[: total - sum(shares)]:
        shares[i] += 1
    return shares


@dataclass(frozen=True)
class LayerPlan:
    """The compressible layers of a dense model and what they may store together."""

    method: str
    sites: list[Site]
    params_ref: int   # every parameter of the dense model
    kept_dense: int   # parameters left as they are: batch norm, layers kept dense by option
    budget: int       # the run's budget less `kept_dense`

    def too_small(self, needed: int, what: str) -> UserError:
        """The one-line error of a method whose smallest model needs `needed` numbers in its compressed layers."""
        total = needed + self.kept_dense
        dense = f", plus {self.kept_dense} left dense" if self.kept_dense else ""
        return UserError(
            f"method={self.method} needs at least {total} parameters ({what}{dense}) but the budget is "
            f"{self.budget + self.kept_dense}; the smallest ratio it supports for this model is "
            f"{total}/{self.params_ref} (about 1/{self.params_ref // total})"
        )

    def shares(self) -> list[int]:
        """Each layer's share of the budget, proportional to its dense size, as in HashedNets."""
        return split_proportionally(self.budget, [site.params for site in self.sites])


def plan_layers(model: nn.Module, budget: int, method: str, keep_dense=()) -> LayerPlan:
    sites = compressible_layers(model, keep_dense)
    if not sites:
        raise UserError(f"method={method}: the model has no Linear or Conv2d layer left to compress")
    ref = params_of(model)
    kept_dense = ref - sum(site.params for site in sites)
    plan = LayerPlan(method, sites, ref, kept_dense, budget - kept_dense)
    if plan.budget < len(sites):
        raise plan.too_small(len(sites), "one number per compressed layer")
    return plan


def swap_layers(model: nn.Module, sites: list[Site], make: Callable[[Site, int], nn.Module],
                sizes: list[int]) -> nn.Module:
    """Replace every planned layer by `make(site, size)`; return the model."""
    for site, size in zip(sites, sizes):
        replace_layer(model, site.name, make(site, size))
    return model


@dataclass(frozen=True)
class LayerCost:
    fixed: int      # numbers stored whatever the size (e.g. the bias)
    per_unit: int   # numbers stored per unit of size (e.g. per rank)
    max_units: int  # beyond this a larger size brings nothing

    def of(self, units: int) -> int:
        return self.fixed + self.per_unit * units


def sizes_within_budget(plan: LayerPlan, costs: list[LayerCost], what: str) -> list[int]:
    """Sizes (at least 1 per layer) whose total cost fills as much of the plan's budget as the granularity allows.

    Each layer starts from its share of the budget, proportional to its dense size, as in
    HashedNets; what the rounding leaves is then given one unit at a time to the layer that is
    least grown relative to its maximum, among those whose next unit still fits.
    """
    budget = plan.budget
    needed = sum(c.of(1) for c in costs)
    if needed > budget:
        raise plan.too_small(needed, what)
    units = [max(1, min(c.max_units, (share - c.fixed) // c.per_unit)) for c, share in zip(costs, plan.shares())]

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


def refuse_unfactorable_convs(plan: LayerPlan) -> None:
    """A factored conv (layers/conv_geometry.py) spans every input channel of a zero-padded patch:
    refuse grouped or otherwise padded convs, naming the first."""
    for site in plan.sites:
        if site.kind == "conv2d" and (site.layer.groups != 1 or site.layer.padding_mode != "zeros"):
            raise UserError(f"method={plan.method} factors only convolutions with groups=1 and zero padding, but "
                            f"{site.name!r} has groups={site.layer.groups}, padding_mode={site.layer.padding_mode!r}; "
                            f"keep it dense with +method.keep_dense=[{site.name}]")


def connections_per_layer(budget: int, weights: list[int]) -> list[int]:
    """Weights kept per layer out of `budget` in all (at least one per layer): one weight per layer
    first, so that no layer is cut off; the rest in proportion to the layers' weights."""
    rest = split_proportionally(budget - len(weights), weights)
    return [min(1 + r, w) for r, w in zip(rest, weights)]


def planned_connections(plan: LayerPlan) -> list[int]:
    """Weights kept per compressed layer: the plan's budget less their biases, split by `connections_per_layer`."""
    biases = sum(site.out_features * site.has_bias for site in plan.sites)
    needed = biases + len(plan.sites)
    if plan.budget < needed:
        raise plan.too_small(needed, "every bias and one weight per compressed layer")
    return connections_per_layer(plan.budget - biases, [site.weights for site in plan.sites])
