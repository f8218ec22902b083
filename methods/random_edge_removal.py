"""`rer`: random edge removal (Ciresan et al. 2011) at the budget.

Every layer keeps exactly its share of the budget's connections, chosen by a seeded hash of
the position (the mask is regenerated from the seed, not stored); biases are kept in full.
Removed weights are exactly zero through training (MaskedLinear); kept weights start at
nn.Linear's init scaled to the kept fan-in.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.architecture import MLP, MLPSpec
from bench.budget import split_proportionally
from methods.allocation import too_small
from methods.base import Method
from layers.hashing import hash_positions
from layers.masked_linear import MaskedLinear

MASK_PURPOSE = 2  # hash purpose id, distinct from HashedNets' buckets (0)


def connections_per_layer(spec: MLPSpec, budget: int, method: str = "rer") -> list[int]:
    """Weights kept per layer: the budget left after the biases, in proportion to layer size."""
    shapes = spec.layer_shapes()
    biases = sum(fan_out for _, fan_out in shapes)
    if budget < biases + len(shapes):
        raise too_small(method, biases + len(shapes), budget, spec, "every bias and one weight per layer")
    # one weight per layer first, so that no layer is cut off; the rest in proportion
    weights = [fan_in * fan_out for fan_in, fan_out in shapes]
    rest = split_proportionally(budget - biases - len(shapes), weights)
    return [min(1 + r, w) for r, w in zip(rest, weights)]


def random_mask(fan_in: int, fan_out: int, keep: int, seed: int, layer: int) -> torch.Tensor:
    """Exactly `keep` True entries: the positions with the smallest seeded hash."""
    scores = hash_positions(0, fan_in * fan_out, seed, layer, MASK_PURPOSE)
    mask = torch.zeros(fan_in * fan_out, dtype=torch.bool)
    mask[torch.topk(scores, keep, largest=False, sorted=False).indices] = True
    return mask.view(fan_out, fan_in)


class RandomEdgeRemoval(Method):
    def build(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        keep = connections_per_layer(spec, budget)

        def make_layer(index: int, fan_in: int, fan_out: int) -> MaskedLinear:
            layer = MaskedLinear(fan_in, fan_out)
            layer.set_mask(random_mask(fan_in, fan_out, keep[index], seed, index))
            with torch.no_grad():  # init range 1/sqrt(kept fan-in), so outputs start at a dense layer's scale
                layer.weight.mul_((fan_in * fan_out / keep[index]) ** 0.5)
            return layer

        return MLP(spec, make_layer)

    def export_state(self, model: nn.Module) -> dict:
        """The kept weights (row-major within the seeded mask) and the biases."""
        state = {}
        for i, layer in enumerate(model.layers):
            state[f"layers.{i}.kept_weights"] = layer.kept_weights()
            state[f"layers.{i}.bias"] = layer.bias.detach()
        return state

    def load_state(self, model: nn.Module, state: dict) -> None:
        for i, layer in enumerate(model.layers):
            layer.load_kept(layer.flat_positions(), state[f"layers.{i}.kept_weights"], state[f"layers.{i}.bias"])
