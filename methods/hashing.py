"""Seeded, vectorised integer hashes (no per-weight Python work).

The hash of a virtual weight is a function of (seed, layer, purpose, position) only, so
nothing of virtual size is ever stored: the index is recomputed from the seed.
"""
from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a bijection on uint64 with good avalanche (wraps mod 2**64)."""
    with np.errstate(over="ignore"):  # wrapping is the point
        x = np.asarray(x, dtype=np.uint64) + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _MIX1
        x = (x ^ (x >> np.uint64(27))) * _MIX2
        return x ^ (x >> np.uint64(31))


def salt(*parts: int) -> np.uint64:
    """One 64-bit salt from several small integers (seed, layer, purpose)."""
    h = np.uint64(0)
    for part in parts:
        h = splitmix64(h ^ np.uint64(part))
    return np.uint64(h)


def hash_positions(count: int, *salt_parts: int) -> np.ndarray:
    """uint64 hashes of positions 0..count-1 under a salt."""
    return splitmix64(np.arange(count, dtype=np.uint64) ^ salt(*salt_parts))


def bucket_and_sign(count: int, num_buckets: int, seed: int, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """For positions 0..count-1: a bucket in [0, num_buckets) and an independent sign in {-1, +1}."""
    buckets = hash_positions(count, seed, layer, 0) % np.uint64(num_buckets)
    signs = np.where(hash_positions(count, seed, layer, 1) >> np.uint64(63), 1, -1)
    return buckets.astype(np.int64), signs.astype(np.int8)
