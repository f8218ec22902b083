"""Linear and Conv2d layers with a fixed 0/1 mask over their weight entries (kernel entries for a
convolution): masked weights are exactly zero and stay so.

A masked layer is made from the dense one it replaces (`masked`), with its geometry and its
initial weights and bias. A method's checkpoint stores each masked layer's kept weights in place
of its weight (`state_with_kept`), next to the rest of the model's state dict.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Masked:
    """What a masked layer adds to its nn.Module: a boolean mask over `weight` (a non-persistent buffer).

    Masked weights are set to zero and get zero gradient, so SGD (with momentum or weight decay)
    keeps them at exactly zero; the forward multiplies by the mask all the same.
    """

    weight: nn.Parameter
    bias: nn.Parameter | None
    mask: torch.Tensor

    @classmethod
    def geometry(cls, layer: nn.Module) -> dict:
        """The constructor arguments of a layer of `layer`'s shape."""
        raise NotImplementedError

    @classmethod
    def from_dense(cls, layer: nn.Module) -> "Masked":
        """A masked layer of `layer`'s geometry starting from its weights and bias, every weight kept."""
        with torch.device("meta"):  # no memory, no random numbers drawn: the dense values replace these
            masked = cls(**cls.geometry(layer))
        masked.weight = nn.Parameter(layer.weight.detach().clone())
        masked.bias = None if layer.bias is None else nn.Parameter(layer.bias.detach().clone())
        masked.register_buffer("mask", torch.ones_like(masked.weight, dtype=torch.bool), persistent=False)
        return masked

    @torch.no_grad()
    def set_mask(self, mask: torch.Tensor) -> None:
        """Keep the weights where `mask` (of the weight's shape, or flat) is True; zero the others."""
        self.mask.copy_(mask.view_as(self.mask))
        self.weight.mul_(self.mask)

    def kept_weights(self) -> torch.Tensor:
        """The surviving weights, row-major (the order of `flat_positions`)."""
        return self.weight.detach()[self.mask]

    def flat_positions(self) -> torch.Tensor:
        """Row-major indices of the surviving weights in the flattened weight, int32."""
        return self.mask.flatten().nonzero().flatten().to(torch.int32)

    @torch.no_grad()
    def load_kept(self, positions: torch.Tensor, values: torch.Tensor) -> None:
        """Keep exactly the weights at row-major `positions`, set to `values`."""
        mask = torch.zeros(self.mask.numel(), dtype=torch.bool, device=self.mask.device)
        mask[positions.long()] = True
        self.mask.copy_(mask.view_as(self.mask))
        self.weight.zero_().view(-1)[positions.long()] = values.to(self.weight)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, kept={int(self.mask.sum())}"


class MaskedLinear(Masked, nn.Linear):
    @classmethod
    def geometry(cls, layer: nn.Linear) -> dict:
        return {"in_features": layer.in_features, "out_features": layer.out_features, "bias": layer.bias is not None}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MaskedConv2d(Masked, nn.Conv2d):
    @classmethod
    def geometry(cls, layer: nn.Conv2d) -> dict:
        return {"in_channels": layer.in_channels, "out_channels": layer.out_channels,
                "kernel_size": layer.kernel_size, "stride": layer.stride, "padding": layer.padding,
                "dilation": layer.dilation, "groups": layer.groups, "bias": layer.bias is not None,
                "padding_mode": layer.padding_mode}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


MASKED_TYPES = {nn.Linear: MaskedLinear, nn.Conv2d: MaskedConv2d}


def masked(layer: nn.Module) -> Masked:
    """The masked version of a dense nn.Linear or nn.Conv2d, every weight kept."""
    return MASKED_TYPES[type(layer)].from_dense(layer)


def masked_layers(model: nn.Module) -> dict[str, Masked]:
    """The masked layers of `model` by qualified name, in module order."""
    return {name: module for name, module in model.named_modules() if isinstance(module, Masked)}


def state_with_kept(model: nn.Module, kept: dict[str, dict[str, torch.Tensor]]) -> dict:
    """`model`'s state dict with each masked layer's weight replaced by its entries in `kept`
    ({part: tensor} by layer name), stored as `{name}.{part}`."""
    state = model.state_dict()
    for name, parts in kept.items():
        del state[f"{name}.weight"]
        state.update({f"{name}.{part}": tensor for part, tensor in parts.items()})
    return state


def load_state_with_kept(model: nn.Module, state: dict, parts: tuple[str, ...]) -> dict[str, dict[str, torch.Tensor]]:
    """Load a state of `state_with_kept` into `model` but for the masked layers' weights, and return
    those layers' entries (those of `parts` present) by name, for the method to `load_kept`."""
    rest, kept = dict(state), {}
    for name, layer in masked_layers(model).items():
        kept[name] = {part: rest.pop(f"{name}.{part}") for part in parts if f"{name}.{part}" in rest}
        rest[f"{name}.weight"] = layer.weight  # left as it is, so that the load stays strict
    model.load_state_dict(rest)
    return kept
