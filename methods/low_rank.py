"""`lowrank`: low-rank decomposition (Denil et al. 2013), W = V U with the rank fitted to the budget.

U (rank x in) projects the input, V (out x rank) maps it to the outputs. Denil et al. fix U
(a dictionary) and learn only V: here U is a seeded random +-1/sqrt(in) matrix, regenerated
from the seed and not stored, so a layer stores V and its bias. `learn_projection=True` learns
and stores U too (started from the same random matrix), which costs in + out per rank instead
of out.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.architecture import MLP, MLPSpec
from methods.allocation import LayerCost, sizes_within_budget
from methods.base import Method
from methods.hashing import hash_positions

PROJECTION_PURPOSE = 3  # hash purpose id, distinct from the other methods'


def random_projection(rank: int, fan_in: int, seed: int, layer: int) -> torch.Tensor:
    """A (rank, fan_in) matrix of seeded random signs / sqrt(fan_in): keeps the input's scale."""
    negative = hash_positions(0, rank * fan_in, seed, layer, PROJECTION_PURPOSE) & 1
    return (1 - 2 * negative).float().div_(math.sqrt(fan_in)).view(rank, fan_in)


class LowRankLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, rank: int, learn_projection: bool, seed: int,
                 layer: int):
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        projection = random_projection(rank, in_features, seed, layer)
        if learn_projection:
            self.projection = nn.Parameter(projection)
        else:
            self.register_buffer("projection", projection, persistent=False)
        # nn.Linear(rank, out)'s init: with the projection's scale, outputs start like a dense layer's
        mixing = nn.Linear(rank, out_features)
        self.weight, self.bias = mixing.weight, mixing.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.linear(x, self.projection), self.weight, self.bias)

    def extra_repr(self) -> str:
        learned = isinstance(self.projection, nn.Parameter)
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}, " \
               f"learn_projection={learned}"


class LowRank(Method):
    def __init__(self, learn_projection: bool = False):
        self.learn_projection = learn_projection

    def ranks(self, spec: MLPSpec, budget: int) -> list[int]:
        if self.learn_projection:  # beyond min(in, out) the factors are no longer low rank
            costs = [LayerCost(fan_out, fan_in + fan_out, min(fan_in, fan_out)) for fan_in, fan_out in spec.layer_shapes()]
        else:  # beyond `in` a fixed projection only repeats information
            costs = [LayerCost(fan_out, fan_out, fan_in) for fan_in, fan_out in spec.layer_shapes()]
        return sizes_within_budget(spec, costs, budget, "lowrank", "rank 1 in every layer")

    def build(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        ranks = self.ranks(spec, budget)
        return MLP(spec, lambda index, fan_in, fan_out: LowRankLinear(
            fan_in, fan_out, ranks[index], self.learn_projection, seed, index))
