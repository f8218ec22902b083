"""Sketched layers: stored W~ (out x m) after a count-sketch S (m x fan_in, layers/count_sketch.py),
virtual weights scale * W~ S. methods/sketch.py says why the scale and the init.

A linear layer applies S to its input, y = scale * W~ (S x) + b. A convolution sketches the
fan_in = in_channels * kh * kw coordinates of each input patch (layers/conv_geometry.py): it
materialises the kernel scale * W~ S, (out, fan_in) viewed as (out, in, kh, kw), and convolves
with the dense conv's stride, padding and dilation.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from layers.conv_geometry import ConvGeometry
from layers.count_sketch import CountSketch


class SketchedWeight(nn.Module):
    """The sketch S (regenerated, not stored), W~, the scale and the bias of a layer of `fan_in` inputs."""

    def __init__(self, fan_in: int, out_features: int, sketch_size: int, seed: int, salt: int, bias: bool = True):
        super().__init__()
        self.out_features = out_features
        self.sketch = CountSketch(fan_in, sketch_size, seed, salt)
        self.scale = (sketch_size / fan_in) ** 0.25  # load^(-1/4)
        bound = 1 / math.sqrt(fan_in)  # a dense layer's range, for the virtual weights and the bias
        self.weight = nn.Parameter(torch.empty(out_features, sketch_size).uniform_(-bound / self.scale,
                                                                                  bound / self.scale))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None

    def extra_repr(self) -> str:
        return f"out_features={self.out_features}, scale={self.scale:.4g}, bias={self.bias is not None}"


class SketchedLinear(SketchedWeight):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.scale * self.sketch(x), self.weight, self.bias)


class SketchedConv2d(SketchedWeight):
    def __init__(self, geometry: ConvGeometry, out_channels: int, sketch_size: int, seed: int, salt: int,
                 bias: bool = True):
        super().__init__(geometry.fan_in, out_channels, sketch_size, seed, salt, bias)
        self.geometry = geometry

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.geometry.conv2d(x, self.sketch.expand(self.scale * self.weight), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.geometry}"
