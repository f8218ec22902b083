"""Stacked counterparts of the Linear layers (layers/stacked.py says what stacking is): each member's
effective weight as a batched, differentiable function of its stored tensors, then one batched product.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

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


class _FoldedLinear(torch.autograd.Function):
    """y = x W^T + b member by member, whose backward adds the weight's gradient straight into the layer's
    momentum buffer (`fold_weight_gradient`) instead of returning it: no weight gradient of K x out x in
    is made every step (measured: that allocation, not the products, made stacked steps slow on the CPU)."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        ctx.save_for_backward(x, weight)
        ctx.layer, ctx.has_bias = layer, bias is not None
        return _linear(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_x = torch.bmm(grad_out, weight) if ctx.needs_input_grad[0] else None
        ctx.layer.fold_weight_gradient(x, grad_out)
        return grad_x, None, grad_out.sum(1) if ctx.has_bias else None, None


class StackedLinear(nn.Module):
    """K nn.Linear layers: `weight` (K, out, in) and `bias` (K, out).

    In training, once the optimizer attached its per-member momentum and weight decay (`attach`), the
    weight's gradient is folded into `momentum_buffer` by the backward (`_FoldedLinear`): the buffer then
    holds momentum * buffer + gradient (+ weight decay * weight), what bench/training/sgd.py's step computes, and
    the optimizer only subtracts lr * buffer (bench/training/population_sgd.py).
    """

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.weight = stacked_parameter(layers, "weight")
        self.bias = stacked_parameter(layers, "bias")
        self.register_buffer("momentum_buffer", None, persistent=False)
        self.momentum = self.weight_decay = None

    def attach(self, momentum: torch.Tensor, weight_decay: torch.Tensor | None) -> None:
        """The optimizer's per-member momentum and weight decay (None: none), for folding; starts the buffer."""
        self.momentum, self.weight_decay = momentum, weight_decay
        if self.momentum_buffer is None:
            self.momentum_buffer = torch.zeros_like(self.weight)

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight, self.bias

    @torch.no_grad()
    def fold_weight_gradient(self, x: torch.Tensor, grad_out: torch.Tensor) -> None:
        buffer = self.momentum_buffer
        buffer.mul_(self.momentum.view(-1, 1, 1)).baddbmm_(grad_out.transpose(1, 2), x)
        if self.weight_decay is not None:
            buffer.add_(self.weight_decay.view(-1, 1, 1) * self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.momentum is not None and x.dim() == 3 and torch.is_grad_enabled():
            # the weight itself: a masked layer's removed weights are zero and stay so (its buffer is masked)
            return _FoldedLinear.apply(x, self.weight.detach(), self.bias, self)
        return _linear(x, *self.weight_and_bias())


class StackedMaskedLinear(StackedLinear):
    """K MaskedLinear layers: the weight times each member's own mask (the folded gradient too)."""

    def __init__(self, layers: list[MaskedLinear]):
        super().__init__(layers)
        self.register_buffer("mask", stack_detached([layer.mask for layer in layers]), persistent=False)

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight * self.mask, self.bias

    @torch.no_grad()
    def fold_weight_gradient(self, x: torch.Tensor, grad_out: torch.Tensor) -> None:
        super().fold_weight_gradient(x, grad_out)
        self.momentum_buffer.mul_(self.mask)  # masked weights: zero gradient, zero buffer, as in a single run


class _MemberIndexedLinear(torch.autograd.Function):
    """K hashed layers' y = x W^T + b with each member's own hash index (layers/hashed_linear.py's kernels:
    numba bucket streams on the CPU), member by member for the weights, one batched product for all.

    The forward writes each member's weight and hashed biases into the layer's buffers; the backward
    takes the input gradient from them, then overwrites the weights with their gradient and sums that
    into each member's buckets, as the single layer's backward does (the same kernels, the same order).
    """

    @staticmethod
    def forward(ctx, x, buckets, bias, layer):
        weight, hashed_bias = layer.materialize(buckets.detach() * layer.scale)
        ctx.layer, ctx.has_bias = layer, bias is not None
        ctx.save_for_backward(x)
        return _linear(x, weight, hashed_bias if layer.hash_bias else bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        layer = ctx.layer
        weight = layer.weight_buffer
        grad_x = torch.bmm(grad_out, weight) if ctx.needs_input_grad[0] else None
        bias_grad = grad_out.sum(1) if layer.hash_bias or ctx.has_bias else None
        weight_grad = torch.bmm(grad_out.transpose(1, 2), x, out=weight)  # the weights are used up
        grad_buckets = grad_out.new_empty(len(layer.indexes), layer.num_buckets)
        for k, index in enumerate(layer.indexes):
            hashed = bias_grad[k] if layer.hash_bias else grad_out.new_empty(0)
            index.bucket_sum(weight_grad[k].view(-1), hashed, grad_buckets[k])
        return grad_x, grad_buckets.mul_(layer.scale), None if layer.hash_bias else bias_grad, None


class StackedHashedLinear(nn.Module):
    """K HashedLinear layers: `buckets` (K, buckets), each member with its own hash index.

    On the CPU the members' own indexes run the hashed layer's numba kernels member by member
    (`_MemberIndexedLinear`); elsewhere (CUDA), each member's virtual weights (and hashed biases) are a
    gather of its scaled buckets at its hash positions, times its signs, under autograd.
    """

    def __init__(self, layers: list[HashedLinear]):
        super().__init__()
        first = layers[0]
        self.out_features, self.in_features = first.out_features, first.in_features
        self.scale, self.hash_bias, self.num_buckets = first.scale, first.hash_bias, first.num_buckets
        self.buckets = stacked_parameter(layers, "buckets")
        self.bias = stacked_parameter(layers, "bias")
        device = first.buckets.device
        self.indexes = [layer._index() for layer in layers] if device.type == "cpu" else None
        if self.indexes is None:
            codes = stack_detached([layer.signed_codes() for layer in layers]).to(device)
            self.register_buffer("index", (codes >> 1).long(), persistent=False)
            self.register_buffer("sign", (1 - 2 * (codes & 1)).to(first.buckets.dtype), persistent=False)
        self.weight_buffer: torch.Tensor | None = None

    def select(self, index: list[int]) -> None:
        if self.indexes is not None:
            self.indexes = [self.indexes[i] for i in index]
        self.weight_buffer = None

    def materialize(self, scaled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's weight (K, out, in) into the layer's buffer, and hashed biases (K, out) (or (K, 0)),
        by its own index."""
        members = scaled.shape[0]
        shape = (members, self.out_features, self.in_features)
        if self.weight_buffer is None or self.weight_buffer.shape != shape or self.weight_buffer.dtype != scaled.dtype:
            self.weight_buffer = scaled.new_empty(shape)
        bias = scaled.new_empty(members, self.out_features if self.hash_bias else 0)
        for k, index in enumerate(self.indexes):
            index.scatter(scaled[k], self.weight_buffer[k].view(-1), bias[k])
        return self.weight_buffer, bias

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        virtual = torch.gather(self.buckets * self.scale, 1, self.index) * self.sign
        weights = self.out_features * self.in_features
        weight = virtual[:, :weights].view(-1, self.out_features, self.in_features)
        return weight, (virtual[:, weights:] if self.hash_bias else self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.indexes is None:
            return _linear(x, *self.weight_and_bias())
        if x.dim() == 2:  # one input for every member (evaluation)
            x = x.expand(len(self.indexes), *x.shape)
        return _MemberIndexedLinear.apply(x, self.buckets, self.bias, self)


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
