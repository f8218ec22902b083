"""`hashednets`: every layer's weights (and by default biases) share K hashed values."""
from __future__ import annotations

from torch import nn

from bench.architecture import MLP, MLPSpec
from bench.budget import split_proportionally
from bench.errors import UserError
from methods.base import Method
from layers.hashed_linear import HashedLinear


class HashedNets(Method):
    def __init__(self, hash_bias: bool = True, cache_index: bool = True):
        self.hash_bias, self.cache_index = hash_bias, cache_index

    def bucket_counts(self, spec: MLPSpec, budget: int) -> list[int]:
        """K per layer: the layer's share of the budget, proportional to its virtual size."""
        shapes = spec.layer_shapes()
        shares = split_proportionally(budget, [(fan_in + 1) * fan_out for fan_in, fan_out in shapes])
        counts = shares if self.hash_bias else [s - fan_out for s, (_, fan_out) in zip(shares, shapes)]
        if min(counts) < 1:
            needed = sum(fan_out for _, fan_out in shapes) if not self.hash_bias else len(shapes)
            raise UserError(
                f"method=hashednets: a budget of {budget} leaves a layer without a single hashed value; "
                f"the smallest budget it supports here is about {needed + len(shapes)} parameters "
                f"(ratio about {needed + len(shapes)}/{spec.params_ref()})"
            )
        return counts

    def build(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        return self._hashed_mlp(spec, budget, seed, self.cache_index)

    def build_for_sizing(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        """Without the hash index: the checkpoint holds only the buckets, and the index is most of a build's time."""
        return self._hashed_mlp(spec, budget, seed, cache_index=False)

    def _hashed_mlp(self, spec: MLPSpec, budget: int, seed: int, cache_index: bool) -> nn.Module:
        counts = self.bucket_counts(spec, budget)
        return MLP(spec, lambda index, fan_in, fan_out: HashedLinear(
            fan_in, fan_out, counts[index], seed=seed, layer=index, hash_bias=self.hash_bias,
            cache_index=cache_index))
