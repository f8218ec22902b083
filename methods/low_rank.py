"""`lowrank`: low-rank decomposition (Denil et al. 2013), W = V U with the rank fitted to the budget.

U (rank x in) projects the input, V (out x rank) maps it to the outputs: y = scale * V (U x) + b,
with a constant scale. Denil et al. fix U (a dictionary) and learn only V: here U is a seeded
random +-1/sqrt(rank) matrix (a Johnson-Lindenstrauss projection, keeping input norms),
regenerated from the seed and not stored; a layer stores V and its bias. `learn_projection=True`
learns and stores U too, which costs in + out per rank instead of out.

Why the scale (SGD at the recipe's learning rate diverged without it):
* fixed U: each row's `in` virtual weights are tied to `rank` stored values, load = in / rank,
  as in a hashed layer (layers/hashed_linear.py): a step of V moves W by grad U^T U, whose norm
  is sqrt(load) times the dense step's (U^T U has eigenvalues load on U's row space), mostly
  across directions the gradient did not ask for. scale = load^(-1/4), with V starting at
  nn.Linear's range / scale, keeps both the initial outputs and the step's size a dense layer's.
* learned U: a step moves W by scale^2 (V V^T grad + grad U^T U), and as U and V turn towards
  the data's dominant directions, V V^T and U^T U act there with their full eigenvalues. The
  former start (U's signs / sqrt(in), V as nn.Linear(rank, out), scale 1) had V V^T's
  eigenvalues at out / (3 rank), 67 for the first layer at ratio 1/64, and gave nan. Now both
  factors start balanced, with singular values s each (U = signs * s / sqrt(in), V of variance
  s^2 / out), and scale and s are the two numbers that make W = scale V U start with a dense
  init's Frobenius norm (rank * (scale s^2)^2 = out / 3) and make the step within the factors'
  directions a dense step (2 scale^2 s^2 = 1). Such a layer learns slowly at first: both factors
  must turn towards the data before either path carries much gradient.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.architecture import MLP, MLPSpec
from methods.allocation import LayerCost, sizes_within_budget
from methods.base import Method
from layers.hashing import hash_positions

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
        if learn_projection:  # balanced factors, singular values about s each (see the module docstring)
            self.scale = math.sqrt(3 * rank / out_features) / 2
            s = 1 / (math.sqrt(2) * self.scale)
            self.projection = nn.Parameter(signs * s / math.sqrt(in_features))
            bound = s * math.sqrt(3 / out_features)  # uniform, variance s^2 / out
        else:
            self.scale = (rank / in_features) ** 0.25  # load^(-1/4)
            self.register_buffer("projection", signs / math.sqrt(rank), persistent=False)
            bound = 1 / (self.scale * math.sqrt(in_features))  # W = scale V U starts at nn.Linear's range
        self.weight = nn.Parameter(torch.empty(out_features, rank).uniform_(-bound, bound))
        bound = 1 / math.sqrt(in_features)  # nn.Linear's bias range
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.scale * F.linear(x, self.projection), self.weight, self.bias)

    def extra_repr(self) -> str:
        learned = isinstance(self.projection, nn.Parameter)
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}, " \
               f"scale={self.scale:.4g}, learn_projection={learned}"


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
