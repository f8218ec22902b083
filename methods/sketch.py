"""`sketch`: random linear sketching (Lin, Song and Yang 2019).

Each layer compresses its input with a count-sketch S (m x in: hashed rows, random signs,
regenerated from the seed) and stores and trains only W~ (out x m) and its bias:
y = scale * W~ (S x) + b. The sketch size m of every layer is fitted to the budget.

The layer is a hashed layer (layers/hashed_linear.py) whose hash depends on the input column
only: its virtual weights scale * W~ S tie load = in / m inputs to each stored value, and it takes
the same constant scale = load^(-1/4), with W~ drawn from nn.Linear's range / scale. The former
start, W~ = W S^T for a dense layer's W and no scale, summed about `load` of W's columns into each
of W~'s: outputs started sqrt(load) times a dense layer's (9x in the first layer at ratio 1/64,
a first-epoch loss of 30) and every step moved the virtual weights sqrt(load) times as far as a
dense step.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.architecture import MLP, MLPSpec
from methods.allocation import LayerCost, sizes_within_budget
from methods.base import Method
from layers.count_sketch import CountSketch


class SketchedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, sketch_size: int, seed: int, layer: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.sketch = CountSketch(in_features, sketch_size, seed, layer)  # regenerated, not stored
        self.scale = (sketch_size / in_features) ** 0.25  # load^(-1/4)
        bound = 1 / math.sqrt(in_features)  # nn.Linear's range, for the virtual weights and the bias
        self.weight = nn.Parameter(torch.empty(out_features, sketch_size).uniform_(-bound / self.scale,
                                                                                  bound / self.scale))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.scale * self.sketch.apply(x), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"sketch_size={self.sketch.sketch_size}, scale={self.scale:.4g}"


class Sketch(Method):
    def sketch_sizes(self, spec: MLPSpec, budget: int) -> list[int]:
        costs = [LayerCost(fan_out, fan_out, fan_in) for fan_in, fan_out in spec.layer_shapes()]
        return sizes_within_budget(spec, costs, budget, "sketch", "a sketch of size 1 in every layer")

    def build(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        sizes = self.sketch_sizes(spec, budget)
        return MLP(spec, lambda index, fan_in, fan_out: SketchedLinear(fan_in, fan_out, sizes[index], seed, index))
