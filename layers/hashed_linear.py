"""A linear layer whose virtual weights share K stored values chosen by a hash (Chen et al. 2015).

Virtual weight V[i, j] = sign(i, j) * scale * buckets[h(i, j)], with h and sign seeded hashes of
the position. The bias is hashed too, as column `in_features` of the same virtual matrix, unless
`hash_bias=False`, in which case it is stored in full (and not scaled).

The constant scale = load^(-1/4), load = virtual weights per bucket, keeps SGD's step at a dense
layer's size. A bucket's gradient is the signed sum of its `load` virtual weights' gradients, about
sqrt(load) times one of them, and the step moves all `load` weights together: unscaled, every
virtual weight moved sqrt(load) times as far per step as a dense weight (8x at ratio 1/64), mostly
along its bucket-mates' gradients, and the weights grew until training diverged. With the scale
(and buckets initialised at nn.Linear's range / scale) outputs start as a dense layer's, and a
step moves each virtual weight, and each bucket relative to its size, as far as it would move a
dense weight. The function class is unchanged (any virtual matrix of the hashed pattern).

Hash codes: one int32 per virtual weight, 2 * bucket + (1 if the sign is negative); hash
positions are the weights row-major, then the hashed biases. The state dict holds only the K
bucket values (and a bias if not hashed); the index is a non-persistent cache of 4 bytes per
virtual weight (and tables of a few hundred bytes), recomputed from the seed every step when
`cache_index=False`.

HashedLayer holds what every hashed layer shares (buckets, bias, index, the differentiable
`weight_and_bias`); HashedConv2d (layers/hashed_conv.py) hashes its kernel the same way, as an
(out, in / groups * kh * kw) matrix. `bias=False` gives a layer without a bias, as the dense one.

For HashedLinear, one autograd Function does the whole layer: the forward scales the K buckets,
materializes the weight into a fresh buffer and multiplies; the backward takes the input gradient
from that buffer, then overwrites it with the weight gradient, sums that into the buckets and
scales the K sums. A step thus holds one buffer of virtual size per layer, which the allocator hands back the
next step, instead of a weight and a weight gradient freed together (which glibc often returned
to the system after a step, to fault it back in on the next: up to 1,400 page faults a step were
counted for 1000x1000). The products are the ones autograd computes for F.linear and for
`buckets * scale`, so the gradients are bit-identical to the naive version's.

Fast path (cached index, several numba threads at construction): the codes are grouped into
bucket streams, one per thread (layers/bucket_streams.py). The forward scatters sign * bucket
value to every position, each thread its own chunk of the weights; the backward sums sign *
grad into the buckets, each thread its own bucket range, in ascending position order: the same
additions in the same order as autograd's single-threaded backward of the naive gather, hence
bit-identical gradients, deterministic whatever the thread count.
Serial path (no cache, one thread, or a layer too large for the stream slots, which is warned
about): a parallel signed gather from the codes, and one serial bucket-sum pass in position order.
Both are numba kernels on CPU tensors; on a GPU (or with `impl="torch"`) the same Functions run
with torch ops instead: a gather and an `index_add_` on the codes (see HashedLayer).
"""
from __future__ import annotations

import math
import warnings

import numba
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from layers.bucket_streams import BucketStreams, build_streams, stream_bucket_sum, stream_scatter
from layers.hashing import signed_bucket_codes


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


# An index writes the flat weight and hashed biases from the (scaled) buckets, `scatter`, and
# writes the buckets' gradient from theirs, `bucket_sum`; all are tensors of the layer's device.

class _StreamIndex:
    """The cached index as bucket streams (numba, CPU): parallel scatter, parallel exact bucket sum."""

    def __init__(self, fields: tuple):
        self.fields = fields

    def scatter(self, buckets, weight, bias) -> None:
        stream_scatter(*self.fields, buckets.numpy(), weight.numpy(), bias.numpy())

    def bucket_sum(self, weight_grad, bias_grad, out) -> None:
        stream_bucket_sum(*self.fields, weight_grad.numpy(), bias_grad.numpy(), out.numpy())  # writes every bucket


class _PositionIndex:
    """The index as codes by position (numba, CPU): parallel gather, serial bucket sum in position order."""

    def __init__(self, codes: torch.Tensor, num_weights: int):
        self.weight_codes, self.bias_codes = codes[:num_weights].numpy(), codes[num_weights:].numpy()

    def scatter(self, buckets, weight, bias) -> None:
        _signed_gather(buckets.numpy(), self.weight_codes, weight.numpy())
        _signed_gather(buckets.numpy(), self.bias_codes, bias.numpy())

    def bucket_sum(self, weight_grad, bias_grad, out) -> None:
        out.zero_()
        _bucket_sum(self.weight_codes, weight_grad.numpy(), out.numpy())  # weights, then biases: the virtual order
        _bucket_sum(self.bias_codes, bias_grad.numpy(), out.numpy())


class _TorchIndex:
    """The codes by position as a torch index, on any device. A code 2 * bucket + negative is a position
    in the signed table [b0, -b0, b1, -b1, ...] of 2K values: the forward is one `index_select` from
    it, the backward one `index_add_` into its gradient, then bucket gradient = its + part - its - part.
    Nothing of virtual size is made but the outputs: the int32 codes index directly."""

    def __init__(self, codes: torch.Tensor, num_weights: int):
        self.weight_codes, self.bias_codes = codes[:num_weights], codes[num_weights:]

    def scatter(self, buckets, weight, bias) -> None:
        table = torch.stack((buckets, -buckets), dim=1).view(-1)
        torch.index_select(table, 0, self.weight_codes, out=weight)
        torch.index_select(table, 0, self.bias_codes, out=bias)

    def bucket_sum(self, weight_grad, bias_grad, out) -> None:
        table_grad = out.new_zeros(2 * out.numel())
        table_grad.index_add_(0, self.weight_codes, weight_grad).index_add_(0, self.bias_codes, bias_grad)
        torch.sub(table_grad[0::2], table_grad[1::2], out=out)


def _materialize(index, buckets: torch.Tensor, weight_shape: tuple[int, ...],
                 hash_bias: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight and the hashed biases (none unless `hash_bias`) as fresh tensors.

    The sizes must be the layer's: the compiled kernels write every position of the index unchecked.
    """
    weight, bias = buckets.new_empty(weight_shape), buckets.new_empty(weight_shape[0] * hash_bias)
    index.scatter(buckets.detach(), weight.view(-1), bias)
    return weight, bias


class _MaterializeFunction(torch.autograd.Function):
    """The weight and hashed biases from scale * buckets; the backward sums their gradients into the
    buckets (sign * gradient, in position order, as autograd's backward of the naive gather) and scales."""

    @staticmethod
    def forward(ctx, buckets, index, scale: float, weight_shape: tuple[int, ...], hash_bias: bool):
        ctx.index, ctx.scale, ctx.num_buckets = index, scale, buckets.numel()
        return _materialize(index, buckets * scale, weight_shape, hash_bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, weight_grad, bias_grad):
        grad_buckets = weight_grad.new_empty(ctx.num_buckets)
        ctx.index.bucket_sum(weight_grad.contiguous().view(-1), bias_grad.contiguous(), grad_buckets)
        return grad_buckets.mul_(ctx.scale), None, None, None, None


class _HashedLinearFunction(torch.autograd.Function):
    """y = x W^T + b for 2-D x, with W (and b if hashed) materialized from scale * buckets by `index`.

    The products are those F.linear and its autograd backward compute for a row-major x and a
    contiguous W: y = addmm(b, x, W^T) (mm without a bias), grad x = grad W, grad W = grad^T x,
    grad b = grad summed over the rows; and the scale multiplies the K values both ways, as
    autograd's backward of `buckets * scale` does; so every gradient is bit-identical to autograd's.
    """

    @staticmethod
    def forward(ctx, x, buckets, bias, index, scale: float, hash_bias: bool, out_features: int):
        weight, hashed_bias = _materialize(index, buckets * scale, (out_features, x.shape[1]), hash_bias)
        ctx.index, ctx.scale, ctx.hash_bias, ctx.weight = index, scale, hash_bias, weight
        ctx.save_for_backward(x, buckets)  # buckets: autograd refuses a backward after they changed
        bias = hashed_bias if hash_bias else bias
        return x.mm(weight.t()) if bias is None else torch.addmm(bias, x, weight.t())

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, buckets = ctx.saved_tensors
        weight, ctx.weight = ctx.weight, None
        if weight is None:  # a second backward through a retained graph: the first used the buffer up
            weight, _ = _materialize(ctx.index, buckets * ctx.scale, (grad_out.shape[1], x.shape[1]), ctx.hash_bias)
        grad_x = grad_out.mm(weight) if ctx.needs_input_grad[0] else None
        grad_bias = grad_out.sum(0) if ctx.hash_bias or ctx.needs_input_grad[2] else None
        weight_grad = torch.mm(grad_out.t(), x, out=weight)  # the weight is used up: reuse its memory
        grad_buckets = grad_out.new_empty(buckets.numel())
        hashed_bias_grad = grad_bias if ctx.hash_bias else grad_out.new_empty(0)
        ctx.index.bucket_sum(weight_grad.view(-1), hashed_bias_grad, grad_buckets)
        return grad_x, grad_buckets.mul_(ctx.scale), None if ctx.hash_bias else grad_bias, None, None, None, None


class HashedLayer(nn.Module):
    """What every hashed layer holds: the K buckets, a non-hashed bias if any, and the index.

    The virtual weights form an (out, fan_in) matrix, fan_in the inputs per output, hashed
    row-major; the biases are its column fan_in when hashed. `weight_shape` is the dense layer's
    weight shape: (out, in) for a linear layer, (out, in / groups, kh, kw) for a convolution.
    `bias=False`: no bias at all, as the dense layer had none.

    `impl` picks the kernels of the index: "numba" (CPU only: the bucket streams or the serial path
    below), "torch" (torch ops on any device: an `index_select` from the int32 codes and an
    `index_add_` into the bucket gradients, equal to the numba path's up to float rounding), or
    "auto": numba while the layer is on the CPU, torch elsewhere (CUDA). The torch path needs the
    codes by position: a layer built with bucket streams (numba, cached) regenerates its codes from
    the seed on its first torch step on its device, and drops the streams, after which the numba
    path (moved back to the CPU) runs serially on those codes, with the same results.

    Determinism: on the CPU both paths are deterministic. On CUDA the forward's `index_select` is,
    but the backward's `index_add_` adds with atomics, in an arbitrary order, so the bucket
    gradients differ in their last bits from run to run (as `F.conv2d`'s backward on CUDA does).
    `torch.use_deterministic_algorithms(True)` (the harness sets it, with warn_only=True) gives
    `index_add_` on CUDA its deterministic implementation (`index_put_` with accumulation, which
    sorts the index: temporaries of virtual size and a slower backward); `torch.mm` on CUDA then
    also needs CUBLAS_WORKSPACE_CONFIG=:4096:8, else torch warns (raises without warn_only).
    """

    IMPLS = ("auto", "numba", "torch")

    def __init__(self, weight_shape: tuple[int, ...], num_buckets: int, seed: int, layer: int,
                 bias: bool, hash_bias: bool, cache_index: bool, impl: str = "auto"):
        if impl not in self.IMPLS:
            raise ValueError(f"impl={impl!r}: must be one of {', '.join(self.IMPLS)}")
        super().__init__()
        self.impl = impl
        self.weight_shape = tuple(weight_shape)
        self.fan_out, self.fan_in = weight_shape[0], math.prod(weight_shape[1:])
        self.num_buckets, self.seed, self.layer = num_buckets, seed, layer
        self.hash_bias, self.cache_index = bias and hash_bias, cache_index  # hash_bias: has a bias and hashes it
        # The index is regenerated from the seed, so it is not part of the state dict. Cached, it
        # is grouped into bucket streams for numba, or kept by position (torch, or too large for them).
        codes = self.signed_codes() if cache_index else None
        streams = self._bucket_streams(codes) if cache_index and impl != "torch" else None
        self.bucket_bits = streams.bucket_bits if streams else None
        for name in ("slots", "block_starts", "block_after", "range_starts"):
            self.register_buffer(name, getattr(streams, name) if streams else None, persistent=False)
        self.register_buffer("codes", codes if streams is None else None, persistent=False)
        hashed_weights = self.fan_out * (self.fan_in + int(self.hash_bias))
        self.scale = (num_buckets / hashed_weights) ** 0.25  # load^(-1/4): see the module docstring
        bound = 1 / math.sqrt(self.fan_in)  # nn.Linear's and nn.Conv2d's default init range
        self.buckets = nn.Parameter(torch.empty(num_buckets).uniform_(-bound / self.scale, bound / self.scale))
        self.bias = nn.Parameter(torch.empty(self.fan_out).uniform_(-bound, bound)) if bias and not hash_bias else None

    def _bucket_streams(self, codes: torch.Tensor) -> BucketStreams | None:
        """The codes grouped into one bucket stream per numba thread; None if there is one thread
        (the serial path is faster then) or if the layer does not fit the stream slots (said loudly)."""
        threads = numba.get_num_threads()
        if threads == 1:
            return None
        streams = build_streams(codes, self.num_buckets, self.fan_out * self.fan_in, threads)
        if streams is None:
            warnings.warn(f"{type(self).__name__} with {self.fan_out}x{self.fan_in} weights, num_buckets="
                          f"{self.num_buckets}: too large for bucket streams, so the backward's bucket sum runs "
                          "serially (same results)")
        return streams

    def signed_codes(self) -> torch.Tensor:
        """int32 codes of the weights (row-major) followed by those of the hashed bias, if any."""
        count = self.fan_out * (self.fan_in + int(self.hash_bias))
        return signed_bucket_codes(count, self.num_buckets, self.seed, self.layer)

    def _index(self) -> _StreamIndex | _PositionIndex | _TorchIndex:
        weights = self.fan_out * self.fan_in
        device = self.buckets.device
        if self.impl == "torch" or (self.impl == "auto" and device.type != "cpu"):
            return _TorchIndex(self._codes_on(device), weights)
        if device.type != "cpu":
            raise RuntimeError(f"impl='numba' runs on the CPU only; this layer is on {device}: use impl='auto' or 'torch'")
        if self.slots is not None:
            tables = (self.slots, self.block_starts, self.block_after, self.range_starts)
            return _StreamIndex((*(t.numpy() for t in tables), self.bucket_bits, weights))
        # no cache, one thread, or too large for the stream slots: codes by position
        return _PositionIndex(self._codes_on(device), weights)

    def _codes_on(self, device: torch.device) -> torch.Tensor:
        """The codes by position on `device`: the cached ones, or made from the seed (and cached, in
        place of the bucket streams, if the index is cached)."""
        if self.codes is not None:
            return self.codes
        codes = self.signed_codes().to(device)
        if self.cache_index:
            self.codes = codes
            self.slots = self.block_starts = self.block_after = self.range_starts = self.bucket_bits = None
        return codes

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The weight (of `weight_shape`) and the bias, differentiable w.r.t. the buckets."""
        weight, hashed_bias = _MaterializeFunction.apply(self.buckets, self._index(), self.scale,
                                                         self.weight_shape, self.hash_bias)
        return weight, (hashed_bias if self.hash_bias else self.bias)

    def virtual_weight(self) -> torch.Tensor:
        """The (out, fan_in[+1]) matrix of virtual weights, bias column last when hashed."""
        weight, bias = self.weight_and_bias()
        weight = weight.reshape(self.fan_out, self.fan_in)
        return torch.cat((weight, bias[:, None]), dim=1) if self.hash_bias else weight

    def extra_repr(self) -> str:
        return (f"num_buckets={self.num_buckets}, scale={self.scale:.4g}, "
                f"bias={self.hash_bias or self.bias is not None}, hash_bias={self.hash_bias}, "
                f"cache_index={self.cache_index}, impl={self.impl}")


class HashedLinear(HashedLayer):
    def __init__(self, in_features: int, out_features: int, num_buckets: int, seed: int, layer: int,
                 hash_bias: bool = True, cache_index: bool = True, bias: bool = True, impl: str = "auto"):
        super().__init__((out_features, in_features), num_buckets, seed, layer, bias, hash_bias, cache_index, impl)
        self.in_features, self.out_features = in_features, out_features

    @classmethod
    def from_dense(cls, layer: nn.Linear, num_buckets: int, seed: int, salt: int, hash_bias: bool = True,
                   cache_index: bool = True, impl: str = "auto") -> HashedLinear:
        """A hashed layer of `layer`'s shape, with a bias if it has one (its values are not used);
        `salt` names the layer in the hashes."""
        return cls(layer.in_features, layer.out_features, num_buckets, seed, salt, hash_bias=hash_bias,
                   cache_index=cache_index, bias=layer.bias is not None, impl=impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"input has {x.shape[-1]} features; this layer takes {self.in_features}")
        if torch.amp.is_autocast_available(x.device.type) and torch.is_autocast_enabled(x.device.type):
            # precision=bf16: the fused kernels stay in float32
            with torch.autocast(x.device.type, enabled=False):
                return self.forward(x.float())
        y = _HashedLinearFunction.apply(x.reshape(-1, self.in_features), self.buckets, self.bias, self._index(),
                                        self.scale, self.hash_bias, self.out_features)
        return y.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, {super().extra_repr()}"


class NaiveHashed:
    """Mixin for the obvious version of a hashed layer: an int64 index and a float sign of virtual
    size, gathered under autograd.

    Same hashes and parameters as the layer it is mixed into; kept as the exactness reference and
    for the benchmarks (12 bytes per virtual weight of buffers, and a slow autograd backward).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "cache_index": False})
        codes = self.signed_codes()
        self.register_buffer("index", (codes >> 1).long(), persistent=False)
        self.register_buffer("sign", (1 - 2 * (codes & 1)).float(), persistent=False)

    def weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The weight and bias, differentiable: autograd's backward is the reference."""
        virtual = (self.buckets * self.scale)[self.index] * self.sign
        weights = self.fan_out * self.fan_in
        return virtual[:weights].view(self.weight_shape), (virtual[weights:] if self.hash_bias else self.bias)


class NaiveHashedLinear(NaiveHashed, HashedLinear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, *self.weight_and_bias())
