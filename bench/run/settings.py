"""The settings a benchmark run computes with, parsed once into one typed object that the run passes down.

Every setting is checked first, before anything is claimed (bench/run/setting_checks.py, which parses
with the same functions); the run then reads `RunSettings.from_config(cfg)` and nothing else parses
the ratio, the budget unit or the device again.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch
from omegaconf import DictConfig

from bench.errors import UserError
from bench.machine.device import resolve_device

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


@dataclass(frozen=True)
class RunSettings:
    ratio: Fraction        # the storage budget as an exact fraction of the dense model, in (0, 1]
    budget_unit: str       # params | bytes
    device: torch.device   # where the model trains (`auto` resolved)
    seed: int

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "RunSettings":
        return cls(parse_ratio(cfg.ratio), parse_budget_unit(cfg.budget.unit), resolve_device(cfg.device), cfg.seed)

    @property
    def compression_factor(self) -> Fraction:
        return 1 / self.ratio
