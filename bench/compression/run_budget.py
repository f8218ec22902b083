"""The budget of one run, in its unit: what the method is built for, the refusal, the record's fields.

params (the paper's convention): the method is built for floor(ratio * params_ref) and may store
no more numbers. bytes: built for the largest parameter budget whose checkpoint fits
floor(ratio * the dense checkpoint's bytes), and refused if even its smallest model does not fit.
The parameter figures are recorded in both units.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from bench.compression.budget import BudgetCheck, params_budget, parse_budget_unit
from bench.compression.byte_budget import bytes_budget, dense_checkpoint_bytes, fit_to_bytes, state_bytes
from bench.errors import UserError
from bench.compression.model_factory import ModelFactory


@dataclass(frozen=True)
class RunBudget:
    unit: str
    method: str                   # its name, for the error lines
    params_ref: int
    params_budget: int            # floor(ratio * params_ref), recorded in both units
    build_params: int             # what `build` gets: params_budget, or the largest that fits the bytes
    bytes_budget: int | None = None  # floor(ratio * dense_bytes), under bytes
    dense_bytes: int | None = None
    state_bytes: Callable[[dict], int] | None = None  # checkpoint bytes of an exported state, under bytes

    def require_within(self, method, model) -> None:
        """Refuse to start a run whose model stores more than its budget, or whose checkpoint would."""
        if self.unit == "params":
            BudgetCheck(self.params_ref, self.params_budget, method.stored_params(model)).require_within(self.method)
            return
        planned = method.planned_bytes(model, self.state_bytes)
        if planned > self.bytes_budget:
            raise UserError(f"method={self.method}'s checkpoint would take {planned:,} bytes, over the byte budget "
                            f"of {self.bytes_budget:,} (= floor(ratio * {self.dense_bytes:,}, the dense checkpoint's "
                            "bytes)); the run was not started")

    def as_record(self, params_stored: int, bytes_on_disk: int | None = None) -> dict:
        """`bytes_on_disk`: the exported checkpoint's (none for a run that diverged before export)."""
        record = {"budget_unit": self.unit,
                  **BudgetCheck(self.params_ref, self.params_budget, params_stored).as_record()}
        if self.unit == "bytes":
            record.update(bytes_budget=self.bytes_budget, bytes_dense_checkpoint=self.dense_bytes,
                          params_budget_fitted=self.build_params)
            if bytes_on_disk is not None:
                record["bytes_fill"] = round(bytes_on_disk / self.bytes_budget, 6)
        return record


def plan_budget(unit: str, ratio: Fraction, method, method_cfg, factory: ModelFactory, seed: int) -> RunBudget:
    """The run's budget; under bytes, the method is sized (and told the limit) here."""
    unit, name, params_ref = parse_budget_unit(unit), method_cfg.get("name"), factory.params_ref()
    budget = params_budget(ratio, params_ref)
    if unit == "params":
        return RunBudget(unit, name, params_ref, budget, budget)
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
    return RunBudget(unit, name, params_ref, budget, fitted, limit, dense_bytes, measure)
