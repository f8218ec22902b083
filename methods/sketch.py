"""`sketch`: random linear sketching (Lin, Song and Yang 2019).

Each layer compresses its input with a count-sketch S (m x in: hashed rows, random signs,
regenerated from the seed, salted by the layer's name) and stores and trains only W~ (out x m)
and its bias (if it has one): y = scale * W~ (S x) + b. The sketch size m of every layer is
fitted to the budget. A convolution sketches its input patches, in = in_channels * kh * kw: its
kernel is scale * W~ S (layers/sketched.py).

The layer is a hashed layer (layers/hashed_linear.py) whose hash depends on the input column
only: its virtual weights scale * W~ S tie load = in / m inputs to each stored value, and it takes
the same constant scale = load^(-1/4), with W~ drawn from nn.Linear's range / scale. The former
start, W~ = W S^T for a dense layer's W and no scale, summed about `load` of W's columns into each
of W~'s: outputs started sqrt(load) times a dense layer's (9x in the first layer at ratio 1/64,
a first-epoch loss of 30) and every step moved the virtual weights sqrt(load) times as far as a
dense step.
"""
from __future__ import annotations

from torch import nn

from methods.compressible import Site, layer_salt
from layers.conv_geometry import ConvGeometry
from layers.sketched import SketchedConv2d, SketchedLinear
from methods.allocation import LayerCost, plan_layers, refuse_unfactorable_convs, sizes_within_budget, swap_layers
from methods.base import LayerwiseMethod


class Sketch(LayerwiseMethod):
    def sketch_sizes(self, model: nn.Module, budget: int) -> tuple[list[Site], list[int]]:
        """The planned layers and the sketch size of each (beyond `in` a sketch only repeats its input)."""
        plan = plan_layers(model, budget, "sketch", self.keep_dense)
        refuse_unfactorable_convs(plan)
        costs = [LayerCost(site.out_features * site.has_bias, site.out_features, site.fan_in) for site in plan.sites]
        return plan.sites, sizes_within_budget(plan, costs, "a sketch of size 1 in every layer")

    def compress(self, model: nn.Module, budget: int, seed: int) -> nn.Module:
        def sketched(site: Site, size: int) -> nn.Module:
            options = (size, seed, layer_salt(site.name), site.has_bias)
            if site.kind == "conv2d":
                return SketchedConv2d(ConvGeometry.of(site.layer), site.out_features, *options)
            return SketchedLinear(site.fan_in, site.out_features, *options)

        sites, sizes = self.sketch_sizes(model, budget)
        return swap_layers(model, sites, sketched, sizes)
