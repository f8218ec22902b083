"""The layers a method compresses, found by walking the dense model: every nn.Linear and nn.Conv2d.

Layers are addressed by their qualified names (`layers.0`, `layer2.1.conv1`), which also salt
the hashes a method draws for them. Whatever else has parameters (batch norm, a layer kept dense
by option) stays as it is and counts in what the compressed model stores.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from torch import nn

from bench.errors import UserError

COMPRESSIBLE_TYPES = (nn.Linear, nn.Conv2d)


@dataclass(frozen=True)
class Site:
    """A compressible layer of the dense model, by qualified name."""

    name: str
    layer: nn.Module

    @property
    def kind(self) -> str:
        return "conv2d" if isinstance(self.layer, nn.Conv2d) else "linear"

    @property
    def out_features(self) -> int:
        return self.layer.weight.shape[0]

    @property
    def fan_in(self) -> int:
        """Inputs per output: in_features, or in_channels / groups * kernel height * width."""
        return self.layer.weight[0].numel()

    @property
    def weights(self) -> int:
        return self.layer.weight.numel()

    @property
    def has_bias(self) -> bool:
        return self.layer.bias is not None

    @property
    def params(self) -> int:
        return self.weights + self.out_features * self.has_bias


def compressible_layers(model: nn.Module, keep_dense=()) -> list[Site]:
    """The Linear and Conv2d layers of `model` in module order, except those named in `keep_dense`."""
    sites = [Site(name, module) for name, module in model.named_modules() if type(module) in COMPRESSIBLE_TYPES]
    names = [site.name for site in sites]
    unknown = [name for name in keep_dense if name not in names]
    if unknown:
        raise UserError(f"method.keep_dense: {unknown[0]!r} is not a compressible layer of this model; "
                        f"its Linear and Conv2d layers are: {', '.join(names)}")
    return [site for site in sites if site.name not in keep_dense]


def replace_layer(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put `new` where the module called `name` is."""
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, new)


def layer_salt(name: str) -> int:
    """A 63-bit integer naming the layer in hash salts: the same name, the same hashes, in any model."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") >> 1
