"""The one budget definition (DESIGN.md in this repository), checked on every run.

params_ref:    every weight and bias of the uncompressed architecture.
params_budget: floor(ratio * params_ref), ratio in (0, 1].
params_stored: the numbers that must be kept to rebuild the trained model.

`budget.unit=bytes` measures the budget in checkpoint bytes instead (bench/compression/byte_budget.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import nn

from bench.errors import UserError

# Below this a method is considered to waste its budget (DESIGN.md).
MIN_FILL = 0.97
# params: the paper's convention (stored numbers); bytes: the exported checkpoint's size.
BUDGET_UNITS = ("params", "bytes")


def parse_budget_unit(value) -> str:
    if value not in BUDGET_UNITS:
        raise UserError(f"budget.unit={value!r} is not one of {', '.join(BUDGET_UNITS)}")
    return value


def parse_ratio(value) -> Fraction:
    """Parse `1/8`, `0.125`, `1` (str, int or float) into an exact fraction in (0, 1]."""
    text = str(value).strip()
    try:
        ratio = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise UserError(
            f"ratio={text!r} is not a number; write it as a fraction or decimal in (0, 1], e.g. 1/8 or 0.125"
        ) from None
    if not 0 < ratio <= 1:
        raise UserError(f"ratio={text!r} is outside (0, 1]; e.g. 1/8 or 0.125 (1 means uncompressed)")
    return ratio


def params_budget(ratio: Fraction, params_ref: int) -> int:
    return math.floor(ratio * params_ref)


def count_stored_tensors(state: dict) -> int:
    """Numbers in the floating-point tensors of a state dict (integer indices are not parameters)."""
    return sum(t.numel() for t in state.values() if torch.is_tensor(t) and t.is_floating_point())


def params_of(model: nn.Module) -> int:
    """Every parameter of a model, counted once (a tied tensor is one tensor)."""
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class BudgetCheck:
    params_ref: int
    params_budget: int
    params_stored: int

    @property
    def fill(self) -> float:
        return self.params_stored / self.params_budget

    def require_within(self, method: str) -> None:
        """Refuse to start a run whose model stores more than its budget."""
        if self.params_stored > self.params_budget:
            raise UserError(
                f"method={method} stores {self.params_stored} parameters, over the budget of "
                f"{self.params_budget} (= floor(ratio * {self.params_ref})); the run was not started"
            )

    def as_record(self) -> dict:
        return {
            "params_ref": self.params_ref,
            "params_budget": self.params_budget,
            "params_stored": self.params_stored,
            "fill": round(self.fill, 6),
        }


def split_proportionally(total: int, sizes: list[int]) -> list[int]:
    """Integer shares of `total` proportional to `sizes`, summing exactly to `total`.

    Floors first, then the remainder one by one to the largest fractional parts.
    """
    whole = sum(sizes)
    exact = [Fraction(total * s, whole) for s in sizes]
    shares = [math.floor(e) for e in exact]
    by_fraction = sorted(range(len(sizes)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_fraction[: total - sum(shares)]:
        shares[i] += 1
    return shares
