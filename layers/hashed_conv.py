"""A 2-D convolution whose virtual kernel weights share K stored values chosen by a hash.

The kernel (out, in / groups, kh, kw) is hashed as HashedLinear hashes its weight, flattened
row-major to an (out, fan_in) matrix, fan_in = in / groups * kh * kw, with the biases as column
fan_in unless `hash_bias=False`; same index, scale load^(-1/4) and initialisation (nn.Conv2d's
range 1/sqrt(fan_in), divided by the scale). See layers/hashed_linear.py.

The forward materializes the kernel from the buckets (a differentiable autograd Function whose
backward sums the kernel's gradient into the buckets) and runs F.conv2d on it. Unlike a linear
layer's weight, a kernel is small next to the convolution's work, so the fused single-buffer
step of HashedLinear would save little here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from layers.hashed_linear import HashedLayer, NaiveHashed


class HashedConv2d(HashedLayer):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], num_buckets: int,
                 seed: int, layer: int, stride=1, padding=0, dilation=1, groups: int = 1, bias: bool = True,
                 hash_bias: bool = True, cache_index: bool = True, impl: str = "auto"):
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{in_channels} in and {out_channels} out channels do not split into {groups} groups")
        kernel_size = _pair(kernel_size)
        super().__init__((out_channels, in_channels // groups, *kernel_size), num_buckets, seed, layer,
                         bias, hash_bias, cache_index, impl)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.groups = groups
        # padding may also be "same" or "valid", as for nn.Conv2d
        self.stride, self.dilation = _pair(stride), _pair(dilation)
        self.padding = padding if isinstance(padding, str) else _pair(padding)

    @classmethod
    def from_dense(cls, layer: nn.Conv2d, num_buckets: int, seed: int, salt: int, hash_bias: bool = True,
                   cache_index: bool = True, impl: str = "auto") -> HashedConv2d:
        """A hashed layer of `layer`'s geometry, with a bias if it has one (its values are not used);
        `salt` names the layer in the hashes."""
        if layer.padding_mode != "zeros":
            raise ValueError(f"padding_mode={layer.padding_mode!r}: only zero padding is supported")
        return cls(layer.in_channels, layer.out_channels, layer.kernel_size, num_buckets, seed, salt,
                   stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
                   bias=layer.bias is not None, hash_bias=hash_bias, cache_index=cache_index, impl=impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, *self.weight_and_bias(), self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, {super().extra_repr()}")


class NaiveHashedConv2d(NaiveHashed, HashedConv2d):
    """The reference: the kernel gathered under autograd from an int64 index and a float sign."""
