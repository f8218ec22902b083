"""Stacked counterparts of the Conv2d layers and of batch norm (layers/stacked.py says what stacking is).

Activations are (K, batch, channels, height, width). A stacked convolution runs the K members as the
groups of one grouped convolution: the input laid out as (batch, K * channels, ...), each member's
effective kernel (its own function of its stored tensors, as for the Linear layers) one group of
filters. Batch norm likewise normalises K * channels channels, each member's with its own statistics
and affine parameters (F.batch_norm, the single run's kernel). Parameterless layers that take a
(batch, channels, ...) input (pooling, a ResNet's padding shortcut) see the members folded into the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from layers.hashed_conv import HashedConv2d
from layers.low_rank import LowRankConv2d
from layers.masked import MaskedConv2d
from layers.sketched import SketchedConv2d
from layers.stacked_linear import stack_detached, stacked_parameter


def _grouped(x: torch.Tensor, members: int) -> torch.Tensor:
    """(K, B, C, H, W), or (B, C, H, W) shared by every member, as (B, K * C, H, W)."""
    if x.dim() == 4:
        return x.repeat(1, members, 1, 1)
    return x.transpose(0, 1).reshape(x.shape[1], -1, *x.shape[3:])


def _ungrouped(y: torch.Tensor, members: int) -> torch.Tensor:
    """(B, K * C, H, W) as (K, B, C, H, W) (a view)."""
    return y.view(y.shape[0], members, -1, *y.shape[2:]).transpose(0, 1)


def _conv(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, stride, padding, dilation,
          groups: int = 1) -> torch.Tensor:
    """Each member's input convolved with its own kernel (K, out, in / groups, kh, kw) and bias (K, out)."""
    members = kernel.shape[0]
    y = F.conv2d(_grouped(x, members), kernel.reshape(-1, *kernel.shape[2:]),
                 None if bias is None else bias.reshape(-1), stride, padding, dilation, members * groups)
    return _ungrouped(y, members)


class StackedConv2d(nn.Module):
    """K nn.Conv2d layers: `weight` (K, out, in / groups, kh, kw), `bias` (K, out)."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        first = layers[0]
        self.stride, self.padding, self.dilation, self.groups = first.stride, first.padding, first.dilation, first.groups
        self.weight = stacked_parameter(layers, "weight")
        self.bias = stacked_parameter(layers, "bias")

    def kernel_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight, self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _conv(x, *self.kernel_and_bias(), self.stride, self.padding, self.dilation, self.groups)


class StackedMaskedConv2d(StackedConv2d):
    def __init__(self, layers: list[MaskedConv2d]):
        super().__init__(layers)
        self.register_buffer("mask", stack_detached([layer.mask for layer in layers]), persistent=False)

    def kernel_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight * self.mask, self.bias


class StackedHashedConv2d(nn.Module):
    """K HashedConv2d layers: each member's kernel gathered from its scaled buckets at its hash positions."""

    def __init__(self, layers: list[HashedConv2d]):
        super().__init__()
        first = layers[0]
        self.stride, self.padding, self.dilation, self.groups = first.stride, first.padding, first.dilation, first.groups
        self.weight_shape, self.scale, self.hash_bias = first.weight_shape, first.scale, first.hash_bias
        self.buckets = stacked_parameter(layers, "buckets")
        self.bias = stacked_parameter(layers, "bias")
        codes = stack_detached([layer.signed_codes() for layer in layers]).to(first.buckets.device)
        self.register_buffer("index", (codes >> 1).long(), persistent=False)
        self.register_buffer("sign", (1 - 2 * (codes & 1)).to(first.buckets.dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        virtual = torch.gather(self.buckets * self.scale, 1, self.index) * self.sign
        weights = self.weight_shape[0] * self.weight_shape[1] * self.weight_shape[2] * self.weight_shape[3]
        kernel = virtual[:, :weights].view(-1, *self.weight_shape)
        bias = virtual[:, weights:] if self.hash_bias else self.bias
        return _conv(x, kernel, bias, self.stride, self.padding, self.dilation, self.groups)


class StackedLowRankConv2d(nn.Module):
    """K LowRankConv2d layers: each member's U as a rank-channel convolution, scaled, then its V as a 1 x 1 one."""

    def __init__(self, layers: list[LowRankConv2d]):
        super().__init__()
        first = layers[0]
        self.geometry, self.scale, self.rank = first.geometry, first.scale, first.rank
        self.weight = stacked_parameter(layers, "weight")
        self.bias = stacked_parameter(layers, "bias")
        projection = stack_detached([layer.projection for layer in layers])
        if isinstance(first.projection, nn.Parameter):  # learned
            self.projection = nn.Parameter(projection)
        else:
            self.register_buffer("projection", projection, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        kernel = self.projection.view(-1, self.rank, g.in_channels, *g.kernel_size)
        projected = _conv(x, kernel, None, g.stride, g.padding, g.dilation)
        return _conv(self.scale * projected, self.weight[..., None, None], self.bias, 1, 0, 1)


class StackedSketchedConv2d(nn.Module):
    """K SketchedConv2d layers: each member's kernel scale * W~ S spread from its stored W~ by its own sketch."""

    def __init__(self, layers: list[SketchedConv2d]):
        super().__init__()
        first = layers[0]
        self.geometry, self.scale = first.geometry, first.scale
        self.weight = stacked_parameter(layers, "weight")
        self.bias = stacked_parameter(layers, "bias")
        self.register_buffer("rows", stack_detached([layer.sketch.rows for layer in layers]), persistent=False)
        self.register_buffer("signs", stack_detached([layer.sketch.signs for layer in layers]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        scaled = self.scale * self.weight
        rows = self.rows[:, None, :].expand(-1, scaled.shape[1], -1)
        kernel = (torch.gather(scaled, 2, rows) * self.signs[:, None, :]).view(*scaled.shape[:2], g.in_channels,
                                                                                *g.kernel_size)
        return _conv(x, kernel, self.bias, g.stride, g.padding, g.dilation)


class StackedBatchNorm2d(nn.Module):
    """K nn.BatchNorm2d layers (affine, with running statistics), each member's channels normalised alone."""

    def __init__(self, layers: list[nn.BatchNorm2d]):
        super().__init__()
        first = layers[0]
        if not (first.affine and first.track_running_stats):
            raise ValueError("a stacked batch norm needs affine parameters and running statistics")
        self.momentum, self.eps = first.momentum, first.eps
        self.weight = stacked_parameter(layers, "weight")
        self.bias = stacked_parameter(layers, "bias")
        for name in ("running_mean", "running_var", "num_batches_tracked"):  # persistent: a member's state has them
            self.register_buffer(name, stack_detached([getattr(layer, name) for layer in layers]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members = self.weight.shape[0]
        if self.training:
            self.num_batches_tracked.add_(1)
        # the running statistics are updated in place, through these views of the (K, C) buffers
        y = F.batch_norm(_grouped(x, members), self.running_mean.view(-1), self.running_var.view(-1),
                         self.weight.reshape(-1), self.bias.reshape(-1), self.training, self.momentum, self.eps)
        return _ungrouped(y, members)


class FoldMembers(nn.Module):
    """A parameterless layer of (batch, ...) inputs applied to (K, batch, ...) ones, the members folded into the batch."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(x.flatten(0, 1))
        return y.view(*x.shape[:2], *y.shape[1:])
