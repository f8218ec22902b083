"""The hash index grouped into streams, so that the bucket-gradient sum runs in parallel yet exactly.

The buckets are split into S contiguous ranges, one stream per range. A stream lists the
virtual positions whose bucket lies in its range, in ascending position order. Stream r sums
the gradient into its own buckets in that order: every bucket gets the same additions in the
same order as in one serial pass over all positions (autograd's single-threaded backward of
the naive gather), so the result is bit-identical whatever S and the thread count, and the
streams need no locks. Reading a stream touches the gradient in ascending order, so memory
access stays nearly sequential.

Each position costs one uint32 slot, stored in an int32 tensor:
    bit 0            1 if the sign is negative
    bits 1..b        bucket - first bucket of the stream's range (b bits, b from the range size)
    bits b+1..31     position - previous position in the stream (previous = -1 at its start)
`build_streams` returns None when a layer does not fit these fields (a bucket range wider
than 2**30, or a gap between positions too long); the layer then keeps the serial path.

For the forward, each stream is also cut into blocks at the same position boundaries
(S equal chunks of the weights, then the biases), so thread t writes only the weights of
chunk t: no two threads write to the same memory, the scatter is parallel and exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch

SLOT_BITS = 32


@dataclass
class BucketStreams:
    """The slots of all streams and the small tables that locate their blocks."""

    slots: torch.Tensor        # int32, one per virtual position (bits as above)
    block_starts: torch.Tensor  # int64 (S, S + 2): first slot of stream r in chunk c; column S + 1 = end
    block_after: torch.Tensor  # int64 (S, S + 2): 1 + position of the slot before that block (0: none)
    range_starts: torch.Tensor  # int64 (S + 1,): first bucket of each stream's range, then K
    bucket_bits: int
    num_weights: int

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return self.slots, self.block_starts, self.block_after, self.range_starts


def build_streams(codes: torch.Tensor, num_buckets: int, num_weights: int, streams: int) -> BucketStreams | None:
    """Group signed bucket codes (2 * bucket + negative, by position) into `streams` streams.

    Positions from `num_weights` on are the hashed biases, in a chunk of their own.
    Returns None if the slot fields are too narrow for this layer (see the module doc).
    """
    count = codes.numel()
    range_starts = torch.tensor([num_buckets * r // streams for r in range(streams + 1)])
    bucket_bits = max(1, int((range_starts[1:] - range_starts[:-1]).max() - 1).bit_length())
    delta_bits = SLOT_BITS - 1 - bucket_bits
    if delta_bits < 1:
        return None
    stream_of = torch.bucketize(codes >> 1, range_starts[1:-1].int(), right=True, out_int32=True)
    chunk_starts = torch.tensor([num_weights * c // streams for c in range(streams)] + [num_weights])
    slots = torch.empty(count, dtype=torch.int32)
    block_starts = torch.empty(streams, streams + 2, dtype=torch.int64)
    block_after = torch.zeros(streams, streams + 2, dtype=torch.int64)
    first = 0
    for r in range(streams):  # one stream at a time bounds the int64 temporaries
        positions = torch.nonzero(stream_of == r).flatten()
        gaps = torch.diff(positions, prepend=torch.tensor([-1]))
        if len(gaps) and int(gaps.max()) >= 1 << delta_bits:
            return None
        # codes - 2 * first bucket of the range = 2 * bucket offset + negative
        stream_slots = (gaps << (bucket_bits + 1)) | (codes[positions] - 2 * int(range_starts[r]))
        last = first + len(positions)
        # the uint32 bits as int32: subtract 2**32 where the top bit is set
        slots[first:last] = torch.where(stream_slots >= 1 << 31, stream_slots - (1 << 32), stream_slots)
        inside = torch.searchsorted(positions, chunk_starts)
        block_starts[r, :-1], block_starts[r, -1] = first + inside, last
        before = inside > 0
        block_after[r, :-1][before] = positions[inside[before] - 1] + 1
        first = last
    return BucketStreams(slots, block_starts, block_after, range_starts, bucket_bits, num_weights)


@numba.njit(nogil=True, inline="always")
def _scatter_block(slots, start, stop, after, shift, mask, bucket0, buckets, out, out_offset):
    """out[position - out_offset] = sign * bucket value, for the slots start..stop-1 of one stream."""
    after = np.uint64(after)
    for s in range(np.uint64(start), np.uint64(stop)):  # unsigned: no negative-index wraparound code
        code = np.uint32(slots[s])
        after += np.uint64(code >> shift)
        value = buckets[bucket0 + ((code >> np.uint32(1)) & mask)]
        out[after - np.uint64(1) - out_offset] = -value if code & np.uint32(1) else value


@numba.njit(nogil=True, inline="always")
def _sum_block(slots, start, stop, after, shift, mask, bucket0, grad, grad_offset, out):
    """out[bucket] += sign * grad[position - grad_offset], slot after slot (ascending positions)."""
    after = np.uint64(after)
    for s in range(np.uint64(start), np.uint64(stop)):
        code = np.uint32(slots[s])
        after += np.uint64(code >> shift)
        g = grad[after - np.uint64(1) - grad_offset]
        k = bucket0 + ((code >> np.uint32(1)) & mask)
        if code & np.uint32(1):
            out[k] -= g
        else:
            out[k] += g


@numba.njit(parallel=True, nogil=True, cache=True)
def stream_scatter(slots, block_starts, block_after, range_starts, bucket_bits, num_weights,
                   buckets, weight, bias):
    """weight (flat) and bias = sign * bucket value of each position; thread t writes chunk t."""
    streams = block_starts.shape[0]
    shift, mask = np.uint32(bucket_bits + 1), np.uint32((1 << bucket_bits) - 1)
    for t in numba.prange(streams):
        for r in range(streams):
            _scatter_block(slots, block_starts[r, t], block_starts[r, t + 1], block_after[r, t], shift, mask,
                           np.uint64(range_starts[r]), buckets, weight, np.uint64(0))
        if t == streams - 1:  # the (few) biases go with the last chunk
            for r in range(streams):
                _scatter_block(slots, block_starts[r, streams], block_starts[r, streams + 1],
                               block_after[r, streams], shift, mask, np.uint64(range_starts[r]), buckets,
                               bias, np.uint64(num_weights))


@numba.njit(parallel=True, nogil=True, cache=True)
def stream_bucket_sum(slots, block_starts, block_after, range_starts, bucket_bits, num_weights,
                      weight_grad, bias_grad, out):
    """out[bucket] = sum of sign * grad over its positions in ascending order; stream r owns range r."""
    streams = block_starts.shape[0]
    shift, mask = np.uint32(bucket_bits + 1), np.uint32((1 << bucket_bits) - 1)
    for r in numba.prange(streams):
        bucket0 = range_starts[r]
        out[bucket0:range_starts[r + 1]] = 0
        _sum_block(slots, block_starts[r, 0], block_starts[r, streams], block_after[r, 0], shift, mask,
                   np.uint64(bucket0), weight_grad, np.uint64(0), out)
        _sum_block(slots, block_starts[r, streams], block_starts[r, streams + 1], block_after[r, streams],
                   shift, mask, np.uint64(bucket0), bias_grad, np.uint64(num_weights), out)
