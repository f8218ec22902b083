"""A linear layer whose virtual weights share K stored values chosen by a hash (Chen et al. 2015).

Virtual weight V[i, j] = sign(i, j) * buckets[h(i, j)], with h and sign seeded hashes of the
position. The bias is hashed too, as column `in_features` of the same virtual matrix, unless
`hash_bias=False`, in which case it is stored in full.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from methods.hashing import bucket_and_sign


class HashedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, num_buckets: int, seed: int, layer: int,
                 hash_bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.num_buckets, self.seed, self.layer, self.hash_bias = num_buckets, seed, layer, hash_bias
        columns = in_features + 1 if hash_bias else in_features
        index, sign = bucket_and_sign(out_features * columns, num_buckets, seed, layer)
        # Regenerated from the seed, so not part of the state dict.
        self.register_buffer("index", torch.from_numpy(index).view(out_features, columns), persistent=False)
        self.register_buffer("sign", torch.from_numpy(sign).float().view(out_features, columns), persistent=False)
        bound = 1 / math.sqrt(in_features)  # nn.Linear's default init range
        self.buckets = nn.Parameter(torch.empty(num_buckets).uniform_(-bound, bound))
        self.bias = None if hash_bias else nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def virtual_weight(self) -> torch.Tensor:
        """The (out, in[+1]) matrix of virtual weights, bias column last when hashed."""
        return self.buckets[self.index] * self.sign

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        virtual = self.virtual_weight()
        if self.hash_bias:
            return F.linear(x, virtual[:, :-1], virtual[:, -1])
        return F.linear(x, virtual, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"num_buckets={self.num_buckets}, hash_bias={self.hash_bias}")
