"""A linear layer whose virtual weights share K stored values chosen by a hash (Chen et al. 2015).

Virtual weight V[i, j] = sign(i, j) * buckets[h(i, j)], with h and sign seeded hashes of the
position. The bias is hashed too, as column `in_features` of the same virtual matrix, unless
`hash_bias=False`, in which case it is stored in full.

Fast path: one int32 code per virtual weight, 2 * bucket + (1 if the sign is negative), indexes
the table [b0, -b0, b1, -b1, ...], so the forward is a single gather and needs no sign tensor.
The backward sums sign * grad per bucket (a scatter-add in position order, the same sums in the
same order as autograd's backward of the naive gather, hence bit-identical gradients). The
codes (4 bytes per virtual weight) are a non-persistent cache, recomputed from the seed when
`cache_index=False`; the state dict holds only the K bucket values (and a bias if not hashed).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from methods.hashing import CHUNK, signed_bucket_codes


class _SignedGather(torch.autograd.Function):
    """(buckets, weight codes, bias codes) -> sign * buckets[bucket] for each, with a bucket-sum backward.

    Weight and bias go through one Function so their gradients are summed into the buckets in
    one pass, weights then biases, in the order of the naive version's flat virtual vector.
    """

    @staticmethod
    def forward(ctx, buckets: torch.Tensor, weight_codes: torch.Tensor, bias_codes: torch.Tensor):
        ctx.save_for_backward(weight_codes, bias_codes)
        ctx.num_buckets = buckets.numel()
        signed_table = torch.stack((buckets, -buckets), dim=1).view(-1)
        weight = signed_table.index_select(0, weight_codes.reshape(-1)).view(weight_codes.shape)
        return weight, signed_table.index_select(0, bias_codes)

    @staticmethod
    def backward(ctx, weight_grad: torch.Tensor, bias_grad: torch.Tensor):
        bucket_grad = weight_grad.new_zeros(ctx.num_buckets)
        for codes, grad in zip(ctx.saved_tensors, (weight_grad, bias_grad)):
            codes, grad = codes.reshape(-1), grad.reshape(-1)
            for start in range(0, len(codes), CHUNK):  # chunks bound the int64 index temporaries
                part, part_grad = codes[start:start + CHUNK], grad[start:start + CHUNK]
                signed_grad = torch.where((part & 1).bool(), -part_grad, part_grad)
                bucket_grad.scatter_add_(0, (part >> 1).long(), signed_grad)
        return bucket_grad, None, None


class HashedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, num_buckets: int, seed: int, layer: int,
                 hash_bias: bool = True, cache_index: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.num_buckets, self.seed, self.layer, self.hash_bias = num_buckets, seed, layer, hash_bias
        self.cache_index = cache_index
        # Regenerated from the seed, so not part of the state dict.
        self.register_buffer("codes", self.signed_codes() if cache_index else None, persistent=False)
        bound = 1 / math.sqrt(in_features)  # nn.Linear's default init range
        self.buckets = nn.Parameter(torch.empty(num_buckets).uniform_(-bound, bound))
        self.bias = None if hash_bias else nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def signed_codes(self) -> torch.Tensor:
        """int32 codes of the weights (row-major) followed by those of the hashed bias, if any."""
        count = self.out_features * (self.in_features + int(self.hash_bias))
        return signed_bucket_codes(count, self.num_buckets, self.seed, self.layer)

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        codes = self.codes if self.cache_index else self.signed_codes()
        weights = self.out_features * self.in_features
        weight_codes = codes[:weights].view(self.out_features, self.in_features)
        weight, hashed_bias = _SignedGather.apply(self.buckets, weight_codes, codes[weights:])
        return weight, (hashed_bias if self.hash_bias else self.bias)

    def virtual_weight(self) -> torch.Tensor:
        """The (out, in[+1]) matrix of virtual weights, bias column last when hashed."""
        weight, bias = self.weight_and_bias()
        return torch.cat((weight, bias[:, None]), dim=1) if self.hash_bias else weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, *self.weight_and_bias())

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"num_buckets={self.num_buckets}, hash_bias={self.hash_bias}, cache_index={self.cache_index}")


class NaiveHashedLinear(HashedLinear):
    """The obvious version: an int64 index and a float sign of virtual size, gathered under autograd.

    Same hashes and parameters as HashedLinear; kept as the exactness reference and for the
    benchmark (12 bytes per virtual weight of buffers, and a slow autograd backward).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "cache_index": False})
        codes = self.signed_codes()
        self.register_buffer("index", (codes >> 1).long(), persistent=False)
        self.register_buffer("sign", (1 - 2 * (codes & 1)).float(), persistent=False)

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        virtual = self.buckets[self.index] * self.sign
        weights = self.out_features * self.in_features
        weight = virtual[:weights].view(self.out_features, self.in_features)
        return weight, (virtual[weights:] if self.hash_bias else self.bias)
