"""`lowrank`: low-rank decomposition (Denil et al. 2013), W = V U with the rank fitted to the budget.

U (rank x in) projects the input, V (out x rank) maps it to the outputs. Denil et al. fix U
(a dictionary) and learn only V: here U is a seeded random +-1/sqrt(rank) matrix (a
Johnson-Lindenstrauss projection: it keeps input norms, so V trains at a dense layer's pace),
regenerated from the seed and not stored; a layer stores V and its bias. `learn_projection=True`
learns and stores U too, which costs in + out per rank instead of out; both factors then start
balanced (U's signs / sqrt(in), V as nn.Linear(rank, out)), as the norm-keeping start diverges
at the recipe's learning rate when U moves too.
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


def random_signs(rank: int, fan_in: int, seed: int, layer: int) -> torch.Tensor:
    """A (rank, fan_in) matrix of seeded random +-1."""
    negative = hash_positions(0, rank * fan_in, seed, layer, PROJECTION_PURPOSE) & 1
    return (1 - 2 * negative).float().view(rank, fan_in)


class LowRankLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, rank: int, learn_projection: bool, seed: int,
                 layer: int):
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        signs = random_signs(rank, in_features, seed, layer)
        if learn_projection:
            self.projection = nn.Parameter(signs / math.sqrt(in_features))
            bound = 1 / math.sqrt(rank)
        else:  # E |U x|^2 = |x|^2, so V starts like a dense layer of the full fan-in
            self.register_buffer("projection", signs / math.sqrt(rank), persistent=False)
            bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, rank).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

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
