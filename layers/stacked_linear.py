"""Stacked counterparts of the Linear layers (layers/stacked.py says what stacking is): each member's
effective weight as a batched, differentiable function of its stored tensors, then one batched product.
"""
from __future__ import annotations

import torch
from torch import nn

from layers.hashed_linear import HashedLinear
from layers.low_rank import LowRankLinear
from layers.masked import MaskedLinear
from layers.sketched import SketchedLinear


def stack_detached(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors])


def stacked_parameter(layers: list[nn.Module], name: str) -> nn.Parameter | None:
    if getattr(layers[0], name) is None:
        return None
    return nn.Parameter(stack_detached([getattr(layer, name) for layer in layers]))


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x (K, B, in) or (B, in) shared by every member, weight (K, out, in), bias (K, out) -> (K, B, out)."""
    if x.dim() == 3 and bias is not None:
        return torch.baddbmm(bias[:, None, :], x, weight.transpose(1, 2))
    y = torch.matmul(x, weight.transpose(1, 2))
    return y if bias is None else y + bias[:, None, :]


class StackedLinear(nn.Module):
    """K nn.Linear layers: `weight` (K, out, in) and `bias` (K, out)."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.weight = stacked_parameter(layers, "weight")
        self.bias = stacked_parameter(layers, "bias")

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight, self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _linear(x, *self.weight_and_bias())


class StackedMaskedLinear(StackedLinear):
    """K MaskedLinear layers: the weight times each member's own mask."""

    def __init__(self, layers: list[MaskedLinear]):
        super().__init__(layers)
        self.register_buffer("mask", stack_detached([layer.mask for layer in layers]), persistent=False)

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight * self.mask, self.bias


class StackedHashedLinear(nn.Module):
    """K HashedLinear layers: `buckets` (K, buckets); each member's virtual weights (and hashed biases)
    gather its scaled buckets at its own hash positions, times its signs (layers/hashed_linear.py)."""

    def __init__(self, layers: list[HashedLinear]):
        super().__init__()
        first = layers[0]
        self.out_features, self.in_features = first.out_features, first.in_features
        self.scale, self.hash_bias = first.scale, first.hash_bias
        self.buckets = stacked_parameter(layers, "buckets")
        self.bias = stacked_parameter(layers, "bias")
        codes = stack_detached([layer.signed_codes() for layer in layers]).to(first.buckets.device)
        self.register_buffer("index", (codes >> 1).long(), persistent=False)
        self.register_buffer("sign", (1 - 2 * (codes & 1)).to(first.buckets.dtype), persistent=False)

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        virtual = torch.gather(self.buckets * self.scale, 1, self.index) * self.sign
        weights = self.out_features * self.in_features
        weight = virtual[:, :weights].view(-1, self.out_features, self.in_features)
        return weight, (virtual[:, weights:] if self.hash_bias else self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _linear(x, *self.weight_and_bias())


class StackedLowRankLinear(nn.Module):
    """K LowRankLinear layers, y = scale * V (U x) + b: the input projected by each member's U, then V."""

    def __init__(self, layers: list[LowRankLinear]):
        super().__init__()
        self.scale = layers[0].scale
        self.weight = stacked_parameter(layers, "weight")
        self.bias = stacked_parameter(layers, "bias")
        projection = stack_detached([layer.projection for layer in layers])
        if isinstance(layers[0].projection, nn.Parameter):  # learned
            self.projection = nn.Parameter(projection)
        else:
            self.register_buffer("projection", projection, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected = self.scale * torch.matmul(x, self.projection.transpose(1, 2))
        return _linear(projected, self.weight, self.bias)


class StackedSketchedLinear(nn.Module):
    """K SketchedLinear layers, y = scale * W~ (S x) + b, each member's count sketch S its own."""

    def __init__(self, layers: list[SketchedLinear]):
        super().__init__()
        first = layers[0]
        self.scale, self.sketch_size = first.scale, first.sketch.sketch_size
        self.weight = stacked_parameter(layers, "weight")
        self.bias = stacked_parameter(layers, "bias")
        self.register_buffer("rows", stack_detached([layer.sketch.rows for layer in layers]), persistent=False)
        self.register_buffer("signs", stack_detached([layer.sketch.signs for layer in layers]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members = self.weight.shape[0]
        x = x.expand(members, *x.shape) if x.dim() == 2 else x
        rows = self.rows[:, None, :].expand_as(x)
        sketched = x.new_zeros(*x.shape[:2], self.sketch_size).scatter_add_(2, rows, x * self.signs[:, None, :])
        return _linear(self.scale * sketched, self.weight, self.bias)
