"""`lowrank`: low-rank decomposition (Denil et al. 2013), W = V U with the rank fitted to the budget.

U (rank x in) projects the input, V (out x rank) maps it to the outputs: y = scale * V (U x) + b,
with a constant scale (layers/low_rank.py). A convolution factors the same way over its input
patches, in = in_channels * kh * kw: U a kh x kw conv to `rank` channels, V a 1 x 1 conv to the
outputs. Denil et al. fix U (a dictionary) and learn only V: here U is a seeded random
+-1/sqrt(rank) matrix (a Johnson-Lindenstrauss projection, keeping input norms), regenerated from
the seed (salted by the layer's name) and not stored; a layer stores V and its bias, if it has
one. `learn_projection=True` learns and stores U too, which costs in + out per rank instead of out.

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

from torch import nn

from methods.compressible import Site, layer_salt
from layers.conv_geometry import ConvGeometry
from layers.low_rank import LowRankConv2d, LowRankLinear
from methods.allocation import LayerCost, plan_layers, refuse_unfactorable_convs, sizes_within_budget, swap_layers
from methods.base import LayerwiseMethod


class LowRank(LayerwiseMethod):
    def __init__(self, learn_projection: bool = False, keep_dense=()):
        super().__init__(keep_dense)
        self.learn_projection = learn_projection

    def cost(self, site: Site) -> LayerCost:
        bias = site.out_features * site.has_bias
        if self.learn_projection:  # beyond min(in, out) the factors are no longer low rank
            return LayerCost(bias, site.fan_in + site.out_features, min(site.fan_in, site.out_features))
        return LayerCost(bias, site.out_features, site.fan_in)  # beyond `in` a fixed projection only repeats information

    def ranks(self, model: nn.Module, budget: int) -> tuple[list[Site], list[int]]:
        """The planned layers and the rank of each."""
        plan = plan_layers(model, budget, "lowrank", self.keep_dense)
        refuse_unfactorable_convs(plan)
        return plan.sites, sizes_within_budget(plan, [self.cost(site) for site in plan.sites], "rank 1 in every layer")

    def compress(self, model: nn.Module, budget: int, seed: int) -> nn.Module:
        def factored(site: Site, rank: int) -> nn.Module:
            options = (rank, self.learn_projection, seed, layer_salt(site.name), site.has_bias)
            if site.kind == "conv2d":
                return LowRankConv2d(ConvGeometry.of(site.layer), site.out_features, *options)
            return LowRankLinear(site.fan_in, site.out_features, *options)

        sites, ranks = self.ranks(model, budget)
        return swap_layers(model, sites, factored, ranks)
