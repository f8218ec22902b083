"""A linear layer whose virtual weights share K stored values chosen by a hash (Chen et al. 2015).

Virtual weight V[i, j] = sign(i, j) * buckets[h(i, j)], with h and sign seeded hashes of the
position. The bias is hashed too, as column `in_features` of the same virtual matrix, unless
`hash_bias=False`, in which case it is stored in full.

Hash codes: one int32 per virtual weight, 2 * bucket + (1 if the sign is negative); hash
positions are the weights row-major, then the hashed biases. The state dict holds only the K
bucket values (and a bias if not hashed); the index is a non-persistent cache of 4 bytes per
virtual weight (and tables of a few hundred bytes), recomputed from the seed every step when
`cache_index=False`.

Fast path (cached index, several numba threads at construction): the codes are grouped into
bucket streams, one per thread (methods/bucket_streams.py). The forward scatters sign * bucket
value to every position, each thread its own chunk of the weights; the backward sums sign *
grad into the buckets, each thread its own bucket range, in ascending position order: the same
additions in the same order as autograd's single-threaded backward of the naive gather, hence
bit-identical gradients, deterministic whatever the thread count.
Serial path (no cache, one thread, or a layer too large for the stream slots, which is warned
about): a parallel signed gather from the codes, and one serial bucket-sum pass in position order.
"""
from __future__ import annotations

import math
import warnings

import numba
import torch
import torch.nn.functional as F
from torch import nn

from methods.bucket_streams import BucketStreams, build_streams, stream_bucket_sum, stream_scatter
from methods.hashing import signed_bucket_codes


@numba.njit(parallel=True, nogil=True, cache=True)
def _signed_gather(buckets, codes, out):
    """out[p] = sign * buckets[bucket] for the position's code 2 * bucket + negative."""
    for p in numba.prange(codes.shape[0]):
        code = codes[p]
        value = buckets[code >> 1]
        out[p] = -value if code & 1 else value


@numba.njit(nogil=True, cache=True)
def _bucket_sum(codes, grad, out):
    """out[bucket] += sign * grad, one position after the other (the naive backward's order)."""
    for p in range(codes.shape[0]):
        code = codes[p]
        if code & 1:
            out[code >> 1] -= grad[p]
        else:
            out[code >> 1] += grad[p]


class _StreamScatter(torch.autograd.Function):
    """(buckets, stream fields) -> weight, hashed bias: the same function as _SignedGather, in parallel.

    Forward scatters sign * bucket value to each position; backward sums sign * gradient into
    the buckets stream by stream (methods/bucket_streams.py says why that is exact).
    """

    @staticmethod
    def forward(ctx, buckets: torch.Tensor, fields: tuple, out_features: int, in_features: int):
        ctx.fields, ctx.num_buckets = fields, buckets.numel()
        weight = buckets.new_empty(out_features, in_features)
        bias = buckets.new_empty(fields[0].shape[0] - out_features * in_features)
        stream_scatter(*fields, buckets.detach().numpy(), weight.view(-1).numpy(), bias.numpy())
        return weight, bias

    @staticmethod
    def backward(ctx, weight_grad: torch.Tensor, bias_grad: torch.Tensor):
        bucket_grad = weight_grad.new_empty(ctx.num_buckets)  # every bucket is written
        stream_bucket_sum(*ctx.fields, weight_grad.contiguous().view(-1).numpy(),
                          bias_grad.contiguous().numpy(), bucket_grad.numpy())
        return bucket_grad, None, None, None


class _SignedGather(torch.autograd.Function):
    """(buckets, weight codes, bias codes) -> sign * buckets[bucket] for each, with a bucket-sum backward.

    Weight and bias go through one Function so their gradients are summed into the buckets in
    one pass, weights then biases, in the order of the naive version's flat virtual vector.
    Both directions are compiled loops (numba) over the CPU tensors' memory.
    """

    @staticmethod
    def forward(ctx, buckets: torch.Tensor, weight_codes: torch.Tensor, bias_codes: torch.Tensor):
        ctx.save_for_backward(weight_codes, bias_codes)
        ctx.num_buckets = buckets.numel()
        weight, bias = buckets.new_empty(weight_codes.shape), buckets.new_empty(bias_codes.shape)
        _signed_gather(buckets.detach().numpy(), weight_codes.view(-1).numpy(), weight.view(-1).numpy())
        _signed_gather(buckets.detach().numpy(), bias_codes.numpy(), bias.numpy())
        return weight, bias

    @staticmethod
    def backward(ctx, weight_grad: torch.Tensor, bias_grad: torch.Tensor):
        bucket_grad = weight_grad.new_zeros(ctx.num_buckets)
        for codes, grad in zip(ctx.saved_tensors, (weight_grad, bias_grad)):
            _bucket_sum(codes.view(-1).numpy(), grad.contiguous().view(-1).numpy(), bucket_grad.numpy())
        return bucket_grad, None, None


class HashedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, num_buckets: int, seed: int, layer: int,
                 hash_bias: bool = True, cache_index: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.num_buckets, self.seed, self.layer, self.hash_bias = num_buckets, seed, layer, hash_bias
        self.cache_index = cache_index
        # The index is regenerated from the seed, so it is not part of the state dict. Cached, it
        # is grouped into bucket streams, or kept by position if it does not fit them.
        codes = self.signed_codes() if cache_index else None
        streams = self._bucket_streams(codes) if cache_index else None
        self.bucket_bits = streams.bucket_bits if streams else None
        for name in ("slots", "block_starts", "block_after", "range_starts"):
            self.register_buffer(name, getattr(streams, name) if streams else None, persistent=False)
        self.register_buffer("codes", codes if streams is None else None, persistent=False)
        bound = 1 / math.sqrt(in_features)  # nn.Linear's default init range
        self.buckets = nn.Parameter(torch.empty(num_buckets).uniform_(-bound, bound))
        self.bias = None if hash_bias else nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def _bucket_streams(self, codes: torch.Tensor) -> BucketStreams | None:
        """The codes grouped into one bucket stream per numba thread; None if there is one thread
        (the serial path is faster then) or if the layer does not fit the stream slots (said loudly)."""
        threads = numba.get_num_threads()
        if threads == 1:
            return None
        streams = build_streams(codes, self.num_buckets, self.out_features * self.in_features, threads)
        if streams is None:
            warnings.warn(f"HashedLinear({self.in_features}, {self.out_features}, num_buckets={self.num_buckets}): "
                          "too large for bucket streams, so the backward's bucket sum runs serially (same results)")
        return streams

    def signed_codes(self) -> torch.Tensor:
        """int32 codes of the weights (row-major) followed by those of the hashed bias, if any."""
        count = self.out_features * (self.in_features + int(self.hash_bias))
        return signed_bucket_codes(count, self.num_buckets, self.seed, self.layer)

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.slots is not None:
            fields = (*(t.numpy() for t in (self.slots, self.block_starts, self.block_after, self.range_starts)),
                      self.bucket_bits, self.out_features * self.in_features)
            weight, hashed_bias = _StreamScatter.apply(self.buckets, fields, self.out_features, self.in_features)
        else:  # no cache, one thread, or too large for the stream slots: codes by position
            codes = self.codes if self.codes is not None else self.signed_codes()
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
