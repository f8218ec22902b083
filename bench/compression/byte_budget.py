"""Budgets in bytes (`budget.unit=bytes`): floor(ratio * the dense checkpoint's bytes).

The reference is the uncompressed net exported in the compressed-checkpoint format and measured
(bench/compression/checkpoint.py), so every method pays for everything its checkpoint needs to rebuild the model:
values, positions, the config and the format's own overhead. A method is sized by searching the
largest parameter budget whose planned checkpoint (`Method.planned_bytes`, measured on a model
built for that budget) fits the byte budget.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable

import torch

from bench.errors import UserError
from bench.compression.checkpoint import checkpoint_bytes
from bench.compression.model_factory import ModelFactory

DENSE_METHOD_CONFIG = {"_target_": "methods.dense.Dense", "name": "dense"}  # conf/method/dense.yaml's node
# The search stops once the fitting checkpoint is within this fraction of the byte budget, or the
# parameter budgets left to try are within this fraction of the best one found.
TOLERANCE = 0.001
BYTES_PER_PARAM = 4  # float32: the slope used to guess the next parameter budget to try


def bytes_budget(ratio: Fraction, dense_bytes: int) -> int:
    return math.floor(ratio * dense_bytes)


def dense_checkpoint_bytes(factory: ModelFactory, seed: int) -> int:
    """The bytes of the uncompressed model's checkpoint (its values do not change its size)."""
    with torch.random.fork_rng():  # the run's random stream is the same whatever is measured
        dense = factory.build()
    return len(checkpoint_bytes(DENSE_METHOD_CONFIG, factory, factory.params_ref(), seed, dense.state_dict()))


def largest_fitting(bytes_at: Callable[[int], int | None], start: int, top: int, limit: int) -> tuple[int, int | None]:
    """The largest p in [1, top] (to within TOLERANCE) with bytes_at(p) <= limit, and its bytes.

    `bytes_at` must not decrease with p; it returns None where p is too small to build. Probes
    start at `start` and follow the float32 slope from the last probe while that stays inside the
    bracket, else bisect. If nothing fits: (0, the bytes of the smallest p that builds, or None).
    """
    lo, lo_bytes = 0, None   # largest probe that fits
    floor = 0                # largest probe too small to build
    hi, hi_bytes = top + 1, None  # smallest probe over the limit
    probe = min(max(start, 1), top)
    while True:
        size = bytes_at(probe)
        if size is None:
            floor, guess = probe, None
        elif size <= limit:
            lo, lo_bytes = probe, size
            guess = min(top, probe + max(1, (limit - size) // BYTES_PER_PARAM))
        else:
            hi, hi_bytes = probe, size
            guess = probe - max(1, -(-(size - limit) // BYTES_PER_PARAM))
        base = max(lo, floor)
        close = lo and (limit - lo_bytes <= TOLERANCE * limit or hi - lo <= TOLERANCE * lo)
        if hi - base <= 1 or close:
            return (lo, lo_bytes) if lo else (0, hi_bytes)
        probe = guess if guess is not None and base < guess < hi else (base + hi) // 2


def fit_to_bytes(method, method_cfg, factory: ModelFactory, seed: int, limit: int, start: int) -> tuple[int, int | None]:
    """The largest parameter budget whose model's planned checkpoint fits `limit` bytes, and those bytes
    (0 and the smallest model's bytes if none fits); see `largest_fitting`."""

    def bytes_at(params: int) -> int | None:
        try:
            model = method.build_for_sizing(factory, params, seed)
        except UserError:  # too small a budget for this method
            return None
        return method.planned_bytes(model, state_bytes(method_cfg, factory, params, seed))

    with torch.random.fork_rng():  # building consumes random numbers; the run's own build must not see that
        return largest_fitting(bytes_at, start, factory.params_ref(), limit)


def state_bytes(method_cfg, factory: ModelFactory, params: int, seed: int) -> Callable[[dict], int]:
    """The checkpoint bytes of an exported state, for a model built with `params`."""
    return lambda state: len(checkpoint_bytes(method_cfg, factory, params, seed, state))
