"""The one budget (DESIGN.md in this repository): defined, planned for a method and checked, here only.

params_ref:    every weight and bias of the uncompressed architecture (`ModelFactory.params_ref`).
params_budget: floor(ratio * params_ref), ratio in (0, 1].
params_stored: the numbers that must be kept to rebuild the trained model.

`budget.unit=bytes` measures the exported checkpoint instead: floor(ratio * the dense checkpoint's
bytes), the dense net exported in the compressed-checkpoint format (bench/compression/checkpoint.py),
so every method pays for everything its checkpoint needs: values, positions, the config, the format's
overhead. A method is then built for the largest parameter budget whose planned checkpoint
(`Method.planned_bytes`, measured on a model built for it) fits. Parameter figures are recorded in
both units.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import torch
from omegaconf import OmegaConf

from bench.components import CONF_DIR
from bench.compression.checkpoint import checkpoint_bytes
from bench.compression.method import StateBytes
from bench.compression.model_factory import ModelFactory
from bench.errors import UserError

# Below this a method is considered to waste its budget (DESIGN.md).
MIN_FILL = 0.97
# The byte search stops once the fitting checkpoint is within this fraction of the byte budget, or
# the parameter budgets left to try are within this fraction of the best one found.
TOLERANCE = 0.001
BYTES_PER_PARAM = 4  # float32: the slope used to guess the next parameter budget to try


def params_budget(ratio: Fraction, params_ref: int) -> int:
    return math.floor(ratio * params_ref)


def bytes_budget(ratio: Fraction, dense_bytes: int) -> int:
    return math.floor(ratio * dense_bytes)


def count_stored_tensors(state: dict) -> int:
    """Numbers in the floating-point tensors of a state dict (integer indices are not parameters)."""
    return sum(t.numel() for t in state.values() if torch.is_tensor(t) and t.is_floating_point())


@dataclass(frozen=True)
class Budget:
    """One run's budget in its unit: what the method is built for, the refusal, the record's fields."""

    unit: str
    method: str                   # its name, for the error lines
    params_ref: int
    params_budget: int            # floor(ratio * params_ref), recorded in both units
    build_params: int             # what `build` gets: params_budget, or the largest that fits the bytes
    bytes_budget: int | None = None  # floor(ratio * dense_bytes), under bytes
    dense_bytes: int | None = None
    state_bytes: StateBytes | None = None  # checkpoint bytes of an exported state, under bytes

    @classmethod
    def plan(cls, unit: str, ratio: Fraction, method, method_cfg, factory: ModelFactory, seed: int) -> "Budget":
        """The run's budget; under bytes, the method is sized (and told the limit) here."""
        name, params_ref = method_cfg.get("name"), factory.params_ref()
        budget = params_budget(ratio, params_ref)
        if unit == "params":
            return cls(unit, name, params_ref, budget, budget)
        dense_bytes = dense_checkpoint_bytes(factory, seed)
        limit = bytes_budget(ratio, dense_bytes)
        fitted, size = fit_to_bytes(method, method_cfg, factory, seed, limit, start=budget)
        if not fitted:
            smallest = f"its smallest model's checkpoint takes {size:,} bytes" if size else "no model of it can be built"
            supports = (f"; the smallest ratio it supports here is {size}/{dense_bytes} (about 1/{dense_bytes // size})"
                        if size else "")
            raise UserError(f"method={name}: {smallest}, over the byte budget of {limit:,} (= floor(ratio * "
                            f"{dense_bytes:,}, the dense checkpoint's bytes){supports}; the run was not started")
        measure = state_bytes(method_cfg, factory, fitted, seed)
        method.keep_within_bytes(limit, measure)
        return cls(unit, name, params_ref, budget, fitted, limit, dense_bytes, measure)

    def require_within(self, method, model) -> None:
        """Refuse to start a run whose model stores more than its budget, or whose checkpoint would."""
        if self.unit == "params":
            stored = method.stored_params(model)
            if stored > self.params_budget:
                raise UserError(f"method={self.method} stores {stored} parameters, over the budget of "
                                f"{self.params_budget} (= floor(ratio * {self.params_ref})); the run was not started")
            return
        planned = method.planned_bytes(model, self.state_bytes)
        if planned > self.bytes_budget:
            raise UserError(f"method={self.method}'s checkpoint would take {planned:,} bytes, over the byte budget "
                            f"of {self.bytes_budget:,} (= floor(ratio * {self.dense_bytes:,}, the dense checkpoint's "
                            "bytes)); the run was not started")

    def as_record(self, params_stored: int, bytes_on_disk: int | None = None) -> dict:
        """`bytes_on_disk`: the exported checkpoint's (none for a run that diverged before export)."""
        record = {"budget_unit": self.unit, "params_ref": self.params_ref, "params_budget": self.params_budget,
                  "params_stored": params_stored, "fill": round(params_stored / self.params_budget, 6)}
        if self.unit == "bytes":
            record.update(bytes_budget=self.bytes_budget, bytes_dense_checkpoint=self.dense_bytes,
                          params_budget_fitted=self.build_params)
            if bytes_on_disk is not None:
                record["bytes_fill"] = round(bytes_on_disk / self.bytes_budget, 6)
        return record


def dense_method_node() -> dict:
    """The node `method=dense` sets (conf/method/dense.yaml): the reference checkpoint names it."""
    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / "method" / "dense.yaml").method)


def dense_checkpoint_bytes(factory: ModelFactory, seed: int) -> int:
    """The bytes of the uncompressed model's checkpoint (its values do not change its size)."""
    with torch.random.fork_rng():  # the run's random stream is the same whatever is measured
        dense = factory.build()
    return len(checkpoint_bytes(dense_method_node(), factory, factory.params_ref(), seed, dense.state_dict()))


def largest_fitting(bytes_at: Callable[[int], int | None], start: int, top: int, limit: int) -> tuple[int, int | None]:
    """The largest p in [1, top] (to within TOLERANCE) with bytes_at(p) <= limit, and its bytes.

    `bytes_at` must not decrease with p; it returns None where p is too small to build. Probes
    start at `start` and follow the float32 slope from the last probe while that stays inside the
    bracket, else bisect. If nothing fits: (0, the bytes of the smallest p that builds, or None).
    A method whose checkpoint size is decided in training (pruning) searches with it too.
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


def state_bytes(method_cfg, factory: ModelFactory, params: int, seed: int) -> StateBytes:
    """The checkpoint bytes of an exported state, for a model built with `params`."""
    return lambda state: len(checkpoint_bytes(method_cfg, factory, params, seed, state))
