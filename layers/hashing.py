"""Seeded, vectorised integer hashes (no per-weight Python work).

The hash of a virtual weight is a function of (seed, layer, purpose, position) only, so
nothing of virtual size is ever stored: the index is recomputed from the seed.

Positions are hashed with SplitMix64 in torch int64 arithmetic, in place (a few ms for a
million positions): torch wraps int64 overflow like uint64 arithmetic mod 2**64, and the
logical right shifts are arithmetic shifts with the sign-extended bits masked off.
"""
from __future__ import annotations

import numpy as np
import torch

_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_MASK64 = (1 << 64) - 1
# Largest K for which the signed code 2 * bucket + 1 still fits in int32.
MAX_BUCKETS = 2 ** 30
# Positions hashed at a time: bounds the int64 temporaries (2 MiB each) and keeps them in cache.
CHUNK = 2 ** 18


def _int64(value: int) -> int:
    """The int64 whose bits are those of the uint64 `value` (two's complement)."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def _splitmix64_scalar(x: int) -> int:
    x = (x + _GOLDEN) & _MASK64
    x = ((x ^ (x >> 30)) * _MIX1) & _MASK64
    x = ((x ^ (x >> 27)) * _MIX2) & _MASK64
    return x ^ (x >> 31)


def salt(*parts: int) -> int:
    """One 64-bit salt from several small integers (seed, layer, purpose)."""
    h = 0
    for part in parts:
        h = _splitmix64_scalar(h ^ (part & _MASK64))
    return h


def _xor_shift_right_(x: torch.Tensor, scratch: torch.Tensor, bits: int) -> None:
    """x ^= x >>> bits (logical shift on the uint64 bits of the int64 tensor)."""
    torch.bitwise_right_shift(x, bits, out=scratch)
    scratch.bitwise_and_((1 << (64 - bits)) - 1)
    x.bitwise_xor_(scratch)


def hash_positions(start: int, stop: int, *salt_parts: int) -> torch.Tensor:
    """SplitMix64 hashes of positions start..stop-1 under a salt, as the bits of an int64 tensor."""
    x = torch.arange(start, stop, dtype=torch.int64).bitwise_xor_(_int64(salt(*salt_parts)))
    scratch = torch.empty_like(x)
    x.add_(_int64(_GOLDEN))
    _xor_shift_right_(x, scratch, 30)
    x.mul_(_int64(_MIX1))
    _xor_shift_right_(x, scratch, 27)
    x.mul_(_int64(_MIX2))
    _xor_shift_right_(x, scratch, 31)
    return x


def signed_bucket_codes(count: int, num_buckets: int, seed: int, layer: int) -> torch.Tensor:
    """int32 code 2 * bucket + negative for positions 0..count-1 (4 bytes per position).

    The bucket in [0, num_buckets) comes from the hash's high 32 bits (multiply-shift range
    reduction, no division); the sign from its lowest bit, independent of the bucket.
    """
    if not 1 <= num_buckets <= MAX_BUCKETS:
        raise ValueError(f"num_buckets={num_buckets} is outside [1, {MAX_BUCKETS}]")
    codes = torch.empty(count, dtype=torch.int32)
    for start in range(0, count, CHUNK):
        h = hash_positions(start, min(start + CHUNK, count), seed, layer, 0)
        negative = h & 1
        h.bitwise_right_shift_(32).bitwise_and_(0xFFFFFFFF).mul_(num_buckets).bitwise_right_shift_(32)
        codes[start:start + len(h)] = h.mul_(2).add_(negative)
    return codes


def bucket_and_sign(count: int, num_buckets: int, seed: int, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """For positions 0..count-1: a bucket in [0, num_buckets) and an independent sign in {-1, +1}."""
    codes = signed_bucket_codes(count, num_buckets, seed, layer)
    buckets = (codes >> 1).to(torch.int64)
    signs = (1 - 2 * (codes & 1)).to(torch.int8)
    return buckets.numpy(), signs.numpy()
