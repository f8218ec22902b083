"""The interface every compression method implements."""
from __future__ import annotations

from typing import Callable

from torch import nn

from bench.architecture import MLPSpec
from bench.budget import count_stored_tensors

# The bytes of the checkpoint that would hold an exported state (bench/export.py), under a byte budget.
StateBytes = Callable[[dict], int]


class Method:
    """How to build the compressed model for a budget, what it stores, and how it trains.

    Subclasses implement `build`; the rest has defaults that fit methods whose stored
    numbers are exactly their state dict's floating-point tensors.
    """

    def build(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        """A model of architecture `spec` storing at most `budget` numbers.

        Anything random that is not stored (hashes, masks, projections) derives from `seed`,
        so `build` with the same arguments followed by `load_state` rebuilds the model.
        """
        raise NotImplementedError

    def fit(self, model: nn.Module, trainer, data):
        """Train `model`; hooks (teacher loss, prune/retrain schedule) override this."""
        return trainer.fit(model, data)

    def export_state(self, model: nn.Module) -> dict:
        """What the compressed checkpoint keeps: only numbers a seed cannot regenerate."""
        return model.state_dict()

    def load_state(self, model: nn.Module, state: dict) -> None:
        model.load_state_dict(state)

    def stored_params(self, model: nn.Module) -> int:
        return count_stored_tensors(self.export_state(model))

    # Byte budgets (bench/byte_budget.py): a method is sized by measuring checkpoints.

    def build_for_sizing(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        """A model whose checkpoint has the size of `build`'s, only to be measured: a method whose
        build computes what its checkpoint does not hold (a hash index) can skip that."""
        return self.build(spec, budget, seed)

    def planned_bytes(self, model: nn.Module, state_bytes: StateBytes) -> int:
        """The most bytes `model`'s checkpoint will take once trained. By default its export now:
        the stored tensors keep their sizes through training."""
        return state_bytes(self.export_state(model))

    def keep_within_bytes(self, limit: int, state_bytes: StateBytes) -> None:
        """Called under a byte budget before `build`. A method whose checkpoint size is decided in
        training (pruning) keeps the limit to honour it then; the others' sizes are fixed by `build`."""
