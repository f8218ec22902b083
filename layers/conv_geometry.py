"""What a factored convolution keeps of the dense nn.Conv2d it replaces: the kernel's shape and how it slides.

A kernel is handled as a matrix of (out, fan_in) rows, fan_in = in_channels * kh * kw, the
coordinates of one unfolded input patch in the order of nn.Conv2d's weight (channel, row, column):
a factored layer is then its linear counterpart over patches.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ConvGeometry:
    in_channels: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] | str
    dilation: tuple[int, int]

    @classmethod
    def of(cls, conv: nn.Conv2d) -> ConvGeometry:
        """That of an ungrouped, zero-padded conv (the methods refuse the others: methods/allocation.py)."""
        return cls(conv.in_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation)

    @property
    def fan_in(self) -> int:
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def conv2d(self, x: torch.Tensor, rows: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """x convolved with the kernel whose (out, fan_in) rows are `rows`."""
        kernel = rows.view(len(rows), self.in_channels, *self.kernel_size)
        return F.conv2d(x, kernel, bias, self.stride, self.padding, self.dilation)

    def __str__(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, dilation={self.dilation}"
