"""K models of one structure as one model with a leading member axis: a population (bench/population/).

`stack_models(models, streams)` copies the module tree of the first member and replaces every
layer with its stacked counterpart, found by its type in `STACKED_TYPES`, the one mapping from
a layer type to the layer that computes K of them at once. Each member is built exactly as a
single run builds it (its method, seed, hashes, masks); the stacked layer holds every member's
stored tensors under the member layer's own names, with the member axis first (a state-dict key
of a member is a key of the stacked model), and computes the member's effective weight as a
batched, differentiable function of them: hashed = gather of the scaled buckets times the signs,
masked = weight * mask, low rank = two batched products, sketched = a scatter-add of the input.
Then one batched product per Linear layer.

Activations are (K, batch, ...): each member sees its own batch. A 2-D input (batch, features)
shared by every member, as in evaluation, is broadcast without a copy.

Everything stacked (parameters, buffers, dropout rates) has the member axis first, so
`select_members` keeps a subset of the members (a finished member stops costing compute) by
indexing every tensor, and `member_state` reads one member's tensors back for its own model.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from layers.hashed_linear import HashedLinear
from layers.low_rank import LowRankLinear
from layers.masked import MaskedLinear
from layers.sketched import SketchedLinear


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors])


def _stacked_parameter(layers: list[nn.Module], name: str) -> nn.Parameter | None:
    if getattr(layers[0], name) is None:
        return None
    return nn.Parameter(_stack([getattr(layer, name) for layer in layers]))


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
        self.weight = _stacked_parameter(layers, "weight")
        self.bias = _stacked_parameter(layers, "bias")

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.weight, self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _linear(x, *self.weight_and_bias())


class StackedMaskedLinear(StackedLinear):
    """K MaskedLinear layers: the weight times each member's own mask."""

    def __init__(self, layers: list[MaskedLinear]):
        super().__init__(layers)
        self.register_buffer("mask", _stack([layer.mask for layer in layers]), persistent=False)

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
        self.buckets = _stacked_parameter(layers, "buckets")
        self.bias = _stacked_parameter(layers, "bias")
        codes = _stack([layer.signed_codes() for layer in layers]).to(first.buckets.device)
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
        self.weight = _stacked_parameter(layers, "weight")
        self.bias = _stacked_parameter(layers, "bias")
        projection = _stack([layer.projection for layer in layers])
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
        self.weight = _stacked_parameter(layers, "weight")
        self.bias = _stacked_parameter(layers, "bias")
        self.register_buffer("rows", _stack([layer.sketch.rows for layer in layers]), persistent=False)
        self.register_buffer("signs", _stack([layer.sketch.signs for layer in layers]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members = self.weight.shape[0]
        x = x.expand(members, *x.shape) if x.dim() == 2 else x
        rows = self.rows[:, None, :].expand_as(x)
        sketched = x.new_zeros(*x.shape[:2], self.sketch_size).scatter_add_(2, rows, x * self.signs[:, None, :])
        return _linear(self.scale * sketched, self.weight, self.bias)


class MemberStreams:
    """One random generator per member, for its dropout masks; kept in step with the active members."""

    def __init__(self, generators: list[torch.Generator]):
        self.generators = generators

    def select(self, index: list[int]) -> None:
        self.generators = [self.generators[i] for i in index]


class StackedDropout(nn.Module):
    """K nn.Dropout layers, each member at its own rate and from its own stream.

    The mask is `uniform < 1 - p` drawn by the member's generator (not `bernoulli_`, several times
    slower on the CPU), scaled by 1 / (1 - p) as nn.Dropout scales; a member at p = 0 draws nothing.
    """

    def __init__(self, layers: list[nn.Dropout], streams: MemberStreams):
        super().__init__()
        self.rates = [float(layer.p) for layer in layers]
        self.streams = streams

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not any(self.rates):
            return x
        keep = torch.ones_like(x)
        for k, (rate, generator) in enumerate(zip(self.rates, self.streams.generators)):
            if rate > 0:
                draw = torch.rand(x.shape[1:], generator=generator, device=generator.device, dtype=x.dtype)
                keep[k] = (draw < 1 - rate).to(x.dtype) / (1 - rate)
        return x * keep

    def select(self, index: list[int]) -> None:
        self.rates = [self.rates[i] for i in index]


STACKED_TYPES: dict[type, type] = {
    nn.Linear: StackedLinear,
    MaskedLinear: StackedMaskedLinear,
    HashedLinear: StackedHashedLinear,
    LowRankLinear: StackedLowRankLinear,
    SketchedLinear: StackedSketchedLinear,
}
# Modules without parameters or state that act on any leading axes as they are.
UNCHANGED_TYPES = (nn.ReLU, nn.Identity, nn.ModuleList, nn.Sequential)


class NotStackable(Exception):
    """A module of a type that has no stacked counterpart."""


def stack_models(models: list[nn.Module], streams: MemberStreams) -> nn.Module:
    """One model computing every member of `models` (same structure) at once, with the first member's
    forward: every layer in it replaced by its stacked counterpart."""
    stacked = copy.deepcopy(models[0])
    members = [dict(model.named_modules()) for model in models]
    replaced: list[str] = []
    for name, module in list(stacked.named_modules()):
        if name == "" or any(name.startswith(f"{done}.") for done in replaced):
            continue  # the model itself, or a part of a layer replaced whole (a sketched layer's sketch)
        layers = [modules[name] for modules in members]
        if type(module) in STACKED_TYPES:
            replacement = STACKED_TYPES[type(module)](layers)
        elif isinstance(module, nn.Dropout):
            replacement = StackedDropout(layers, streams)
        elif isinstance(module, UNCHANGED_TYPES):
            continue
        else:
            raise NotStackable(f"{name}: {type(module).__name__} has no stacked counterpart")
        parent, _, child = name.rpartition(".")
        setattr(stacked.get_submodule(parent) if parent else stacked, child, replacement)
        replaced.append(name)
    return stacked


@torch.no_grad()
def select_members(stacked: nn.Module, index: list[int]) -> None:
    """Keep only the members at positions `index` (in that order) in every stacked tensor."""
    rows = torch.tensor(index, dtype=torch.long)
    for module in stacked.modules():
        for name, param in module._parameters.items():
            if param is not None:
                module._parameters[name] = nn.Parameter(param.detach()[rows.to(param.device)])
        for name, buffer in module._buffers.items():
            if buffer is not None:
                module._buffers[name] = buffer[rows.to(buffer.device)]
        if isinstance(module, StackedDropout):
            module.select(index)


def member_state(stacked: nn.Module, position: int) -> dict[str, torch.Tensor]:
    """Copies of the stored tensors of the member at `position`, by its own model's state-dict keys."""
    return {key: value[position].detach().clone() for key, value in stacked.state_dict().items()}


@torch.no_grad()
def load_member_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Write a member's tensors (from `member_state`) into its own model, in place."""
    own = model.state_dict()
    for key, value in state.items():
        own[key].copy_(value)
