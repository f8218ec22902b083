"""`hashednets`: every compressed layer's weights (and by default biases) share K hashed values.

K per layer is its share of the budget, proportional to its dense size; the hash of a virtual
weight is salted by the seed and the layer's qualified name, and regenerated, never stored.
"""
from __future__ import annotations

from torch import nn

from methods.compressible import Site, layer_salt
from bench.errors import UserError
from layers.hashed_conv import HashedConv2d
from layers.hashed_linear import HashedLayer, HashedLinear
from methods.allocation import plan_layers, swap_layers
from methods.base import LayerwiseMethod

HASHED_LAYERS = {"linear": HashedLinear, "conv2d": HashedConv2d}


class HashedNets(LayerwiseMethod):
    def __init__(self, hash_bias: bool = True, cache_index: bool = True, impl: str = "auto", keep_dense=()):
        if impl not in HashedLayer.IMPLS:
            raise UserError(f"hashednets: impl={impl!r} must be one of {', '.join(HashedLayer.IMPLS)}")
        super().__init__(keep_dense)
        self.hash_bias, self.cache_index, self.impl = hash_bias, cache_index, impl

    def bucket_counts(self, model: nn.Module, budget: int):
        """The planned layers and K for each: its share, less its bias where the bias is stored in full."""
        plan = plan_layers(model, budget, "hashednets", self.keep_dense)
        counts = [share - (0 if self.hash_bias else site.out_features * site.has_bias)
                  for site, share in zip(plan.sites, plan.shares())]
        if min(counts) < 1:
            needed = len(plan.sites) + (0 if self.hash_bias else sum(s.out_features * s.has_bias for s in plan.sites))
            raise plan.too_small(needed, "a hashed value in every layer" + ("" if self.hash_bias else " and its bias"))
        return plan.sites, counts

    def compress(self, model: nn.Module, budget: int, seed: int) -> nn.Module:
        return self._hash(model, budget, seed, self.cache_index)

    def build_for_sizing(self, factory, budget: int, seed: int) -> nn.Module:
        """Without the hash index: the checkpoint holds only the buckets, and the index is most of a build's time."""
        return self._hash(factory.build(), budget, seed, cache_index=False)

    def _hash(self, model: nn.Module, budget: int, seed: int, cache_index: bool) -> nn.Module:
        sites, counts = self.bucket_counts(model, budget)

        def hashed(site: Site, num_buckets: int) -> nn.Module:
            return HASHED_LAYERS[site.kind].from_dense(site.layer, num_buckets, seed, layer_salt(site.name),
                                                        hash_bias=self.hash_bias, cache_index=cache_index,
                                                        impl=self.impl)

        return swap_layers(model, sites, hashed, counts)
