"""K models of one structure as one model with a leading member axis: a population (bench/training/population_trainer.py).

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

from layers.hashed_conv import HashedConv2d
from layers.hashed_linear import HashedLinear
from layers.low_rank import LowRankConv2d, LowRankLinear
from layers.masked import MaskedConv2d, MaskedLinear
from layers.sketched import SketchedConv2d, SketchedLinear
from layers.stacked_conv import (FoldMembers, StackedBatchNorm2d, StackedConv2d, StackedHashedConv2d,
                                 StackedLowRankConv2d, StackedMaskedConv2d, StackedSketchedConv2d)
from layers.stacked_linear import (StackedHashedLinear, StackedLinear, StackedLowRankLinear, StackedMaskedLinear,
                                   StackedSketchedLinear)


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
    nn.Conv2d: StackedConv2d,
    MaskedConv2d: StackedMaskedConv2d,
    HashedConv2d: StackedHashedConv2d,
    LowRankConv2d: StackedLowRankConv2d,
    SketchedConv2d: StackedSketchedConv2d,
    nn.BatchNorm2d: StackedBatchNorm2d,
}
# Parameterless modules that act on any leading axes as they are.
ELEMENTWISE_TYPES = (nn.ReLU, nn.Identity)


class NotStackable(Exception):
    """A module of a type that has no stacked counterpart."""


def stack_models(models: list[nn.Module], streams: MemberStreams) -> nn.Module:
    """One model computing every member of `models` (same structure) at once, with the first member's
    forward: every layer in it replaced by its stacked counterpart. The forward must treat the input's
    leading axes as the batch's (e.g. `flatten(-3)`, not `flatten(1)`). A module with children and no
    tensors of its own (a block, a Sequential) stays, its children replaced; another parameterless
    module (pooling) gets the members folded into its batch; any other type is NotStackable."""
    stacked = copy.deepcopy(models[0])
    members = [dict(model.named_modules()) for model in models]
    replaced: list[str] = []
    for name, module in list(stacked.named_modules()):
        if name == "" or any(name.startswith(f"{done}.") for done in replaced):
            continue  # the model itself, or a part of a layer replaced whole (a sketched layer's sketch)
        layers = [modules[name] for modules in members]
        own_tensors = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
        if type(module) in STACKED_TYPES:
            replacement = STACKED_TYPES[type(module)](layers)
        elif isinstance(module, nn.Dropout):
            replacement = StackedDropout(layers, streams)
        elif isinstance(module, ELEMENTWISE_TYPES) or (module._modules and not own_tensors):
            continue
        elif not own_tensors:
            replacement = FoldMembers(module)
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
        if hasattr(module, "select"):  # what a stacked layer holds per member outside its tensors
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
