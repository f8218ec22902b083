"""Architectures as plain layer shapes, and the MLP every method builds from them."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import nn


@dataclass(frozen=True)
class MLPSpec:
    """A fully connected net: input -> hidden... -> classes, ReLU between layers."""

    in_features: int
    hidden: tuple[int, ...]
    out_features: int
    dropout_input: float = 0.0
    dropout_hidden: float = 0.0

    def layer_shapes(self) -> list[tuple[int, int]]:
        """(in_features, out_features) of every linear layer, input to output."""
        widths = [self.in_features, *self.hidden, self.out_features]
        return list(zip(widths[:-1], widths[1:]))

    def params_ref(self) -> int:
        """Every weight and bias of the uncompressed net."""
        return sum((fan_in + 1) * fan_out for fan_in, fan_out in self.layer_shapes())

    def with_hidden(self, hidden) -> "MLPSpec":
        return replace(self, hidden=tuple(int(h) for h in hidden))

    def as_dict(self) -> dict:
        return {
            "in_features": self.in_features,
            "hidden": list(self.hidden),
            "out_features": self.out_features,
            "dropout_input": self.dropout_input,
            "dropout_hidden": self.dropout_hidden,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "MLPSpec":
        return cls(**{**d, "hidden": tuple(d["hidden"])})


# make_layer(layer_index, in_features, out_features) -> a module mapping (N, in) to (N, out)
LayerFactory = Callable[[int, int, int], nn.Module]


class MLP(nn.Module):
    """Dropout on the input and after every hidden ReLU, as in the HashedNets authors' code."""

    def __init__(self, spec: MLPSpec, make_layer: LayerFactory):
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleList(make_layer(i, a, b) for i, (a, b) in enumerate(spec.layer_shapes()))
        self.drop_input = nn.Dropout(spec.dropout_input)
        self.drop_hidden = nn.Dropout(spec.dropout_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop_input(x.flatten(1))
        for layer in self.layers[:-1]:
            x = self.drop_hidden(torch.relu(layer(x)))
        return self.layers[-1](x)


def mlp_spec(model_cfg, train_cfg, in_features: int, num_classes: int) -> MLPSpec:
    """The spec for `model=...` on a data set, with the recipe's dropout."""
    return MLPSpec(
        in_features=in_features,
        hidden=tuple(int(h) for h in model_cfg.hidden),
        out_features=num_classes,
        dropout_input=float(train_cfg.dropout_input),
        dropout_hidden=float(train_cfg.dropout_hidden),
    )
