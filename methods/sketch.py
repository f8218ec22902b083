"""`sketch`: random linear sketching (Lin, Song and Yang 2019).

Each layer compresses its input with a count-sketch S (m x in: hashed rows, random signs,
regenerated from the seed) and stores and trains only W~ = W S^T (out x m) and its bias:
y = W~ (S x) + b. The sketch size m of every layer is fitted to the budget.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.architecture import MLP, MLPSpec
from methods.allocation import LayerCost, sizes_within_budget
from methods.base import Method
from methods.count_sketch import CountSketch


class SketchedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, sketch_size: int, seed: int, layer: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.sketch = CountSketch(in_features, sketch_size, seed, layer)  # regenerated, not stored
        dense = nn.Linear(in_features, out_features)  # W starts as a dense layer would; W~ = W S^T
        self.weight = nn.Parameter(self.sketch.compress_weight(dense.weight.detach()))
        self.bias = dense.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.sketch.apply(x), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"sketch_size={self.sketch.sketch_size}"


class Sketch(Method):
    def sketch_sizes(self, spec: MLPSpec, budget: int) -> list[int]:
        costs = [LayerCost(fan_out, fan_out, fan_in) for fan_in, fan_out in spec.layer_shapes()]
        return sizes_within_budget(spec, costs, budget, "sketch", "a sketch of size 1 in every layer")

    def build(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        sizes = self.sketch_sizes(spec, budget)
        return MLP(spec, lambda index, fan_in, fan_out: SketchedLinear(fan_in, fan_out, sizes[index], seed, index))
