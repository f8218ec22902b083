"""Low-rank layers, W = scale * V U: U (rank x fan_in) projects the input, V (out x rank) maps it
to the outputs, y = scale * V (U x) + b. methods/low_rank.py says why the scale and the inits.

U is either fixed, seeded random signs / sqrt(rank) regenerated from the seed (a buffer, not
stored), or learned (`learn_projection`). A convolution factors the same way over the fan_in =
in_channels * kh * kw coordinates of each input patch (layers/conv_geometry.py): U is a kh x kw
conv from in_channels to rank channels with the dense conv's stride, padding and dilation, V a
1 x 1 conv from rank to out channels with the bias; together, the conv whose kernel is scale * V U.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from layers.conv_geometry import ConvGeometry
from layers.hashing import hash_positions

PROJECTION_PURPOSE = 3  # hash purpose id, distinct from the other layers'


def random_signs(rank: int, fan_in: int, seed: int, salt: int) -> torch.Tensor:
    """A (rank, fan_in) matrix of seeded random +-1."""
    negative = hash_positions(0, rank * fan_in, seed, salt, PROJECTION_PURPOSE) & 1
    return (1 - 2 * negative).float().view(rank, fan_in)


class LowRankFactors(nn.Module):
    """The factors `projection` U and `weight` V, the scale and the bias, initialised for a layer of `fan_in` inputs."""

    def __init__(self, fan_in: int, out_features: int, rank: int, learn_projection: bool, seed: int, salt: int,
                 bias: bool = True):
        super().__init__()
        self.fan_in, self.out_features, self.rank = fan_in, out_features, rank
        signs = random_signs(rank, fan_in, seed, salt)
        if learn_projection:  # balanced factors, singular values about s each (methods/low_rank.py)
            self.scale = math.sqrt(3 * rank / out_features) / 2
            s = 1 / (math.sqrt(2) * self.scale)
            self.projection = nn.Parameter(signs * s / math.sqrt(fan_in))
            bound = s * math.sqrt(3 / out_features)  # uniform, variance s^2 / out
        else:
            self.scale = (rank / fan_in) ** 0.25  # load^(-1/4)
            self.register_buffer("projection", signs / math.sqrt(rank), persistent=False)
            bound = 1 / (self.scale * math.sqrt(fan_in))  # W = scale V U starts at a dense layer's range
        self.weight = nn.Parameter(torch.empty(out_features, rank).uniform_(-bound, bound))
        bound = 1 / math.sqrt(fan_in)  # a dense layer's bias range
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None

    def extra_repr(self) -> str:
        learned = isinstance(self.projection, nn.Parameter)
        return f"fan_in={self.fan_in}, out_features={self.out_features}, rank={self.rank}, " \
               f"scale={self.scale:.4g}, learn_projection={learned}, bias={self.bias is not None}"


class LowRankLinear(LowRankFactors):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.scale * F.linear(x, self.projection), self.weight, self.bias)


class LowRankConv2d(LowRankFactors):
    def __init__(self, geometry: ConvGeometry, out_channels: int, rank: int, learn_projection: bool, seed: int,
                 salt: int, bias: bool = True):
        super().__init__(geometry.fan_in, out_channels, rank, learn_projection, seed, salt, bias)
        self.geometry = geometry

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected = self.geometry.conv2d(x, self.projection)  # U: rank channels
        return F.conv2d(self.scale * projected, self.weight[:, :, None, None], self.bias)  # V: 1 x 1

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self.geometry}"
