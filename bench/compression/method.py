"""The contract between the engine and a compression method: what a method must provide, with its types.

The engine calls only these hooks (tasks/compress.py, bench/compression/budget.py and checkpoint.py);
`methods/base.py` implements them with defaults that fit most methods. A method is a config node
(`conf/method/NAME.yaml`) whose `_target_` builds an object with every hook; one lacking any is refused
in one line before the run starts.
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from torch import nn

from bench.components import call_target
from bench.compression.model_factory import ModelFactory
from bench.errors import UserError

StateBytes = Callable[[dict], int]  # the checkpoint bytes of an exported state (a byte budget's measure)


@runtime_checkable
class CompressionMethod(Protocol):
    def build(self, factory: ModelFactory, budget: int, seed: int) -> nn.Module:
        """A model storing at most `budget` numbers; everything random that is not stored (hashes, masks,
        projections) derives from `seed`, so `build` then `load_state` rebuilds a trained model."""

    def fit(self, model: nn.Module, trainer, data):
        """Train `model` with the recipe's `Trainer` (bench/training/trainer.py), leaving the best validation
        epoch's weights in it; returns the trainer's `FitResult`; raises `TrainingDiverged`."""

    def export_state(self, model: nn.Module) -> dict:
        """What the checkpoint keeps: only numbers a seed cannot regenerate."""

    def load_state(self, model: nn.Module, state: dict) -> None:
        """Put an exported state into a model `build` made with the same arguments."""

    def stored_params(self, model: nn.Module) -> int:
        """The numbers the model stores, counted against a parameter budget."""

    def build_for_sizing(self, factory: ModelFactory, budget: int, seed: int) -> nn.Module:
        """A model whose checkpoint has `build`'s size, only to be measured (under a byte budget)."""

    def planned_bytes(self, model: nn.Module, state_bytes: StateBytes) -> int:
        """The most bytes the model's checkpoint will take once trained."""

    def keep_within_bytes(self, limit: int, state_bytes: StateBytes) -> None:
        """Called under a byte budget before `build`, for a method whose size is decided in training."""


HOOKS = tuple(name for name in CompressionMethod.__dict__ if not name.startswith("_") and
              callable(getattr(CompressionMethod, name)))


def load_method(method_cfg) -> CompressionMethod:
    """The method a config node names, checked against the contract."""
    method = call_target(method_cfg)
    missing = [hook for hook in HOOKS if not callable(getattr(method, hook, None))]
    if missing:
        raise UserError(f"method={method_cfg.get('name')}: {method_cfg.get('_target_')} is not a compression method: "
                        f"it lacks {', '.join(missing)} (bench/compression/method.py lists what a method provides)")
    return method
