"""`dense`: the uncompressed reference net."""
from torch import nn

from bench.architecture import MLP, MLPSpec
from methods.base import Method


class Dense(Method):
    def build(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        return MLP(spec, lambda index, fan_in, fan_out: nn.Linear(fan_in, fan_out))
