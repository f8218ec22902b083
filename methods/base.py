"""Defaults for the engine's method contract (bench/compression/method.py): a transform of the dense model
for a budget."""
from __future__ import annotations

from torch import nn

from bench.compression.budget import count_stored_tensors
from bench.compression.method import StateBytes
from bench.compression.model_factory import ModelFactory


class Method:
    """How to build the compressed model for a budget, what it stores, and how it trains.

    Most methods are transforms: `compress` receives the freshly built dense model and swaps its
    compressible layers (methods/compressible.py) for compressed ones sized to the budget
    (`LayerwiseMethod`). A method that needs another dense model (a narrower one, a teacher)
    overrides `build`, which gets the factory. The rest has defaults that fit methods whose stored
    numbers are exactly their state dict's floating-point parameters.
    """

    def build(self, factory: ModelFactory, budget: int, seed: int) -> nn.Module:
        """A model storing at most `budget` numbers.

        Anything random that is not stored (hashes, masks, projections) derives from `seed`, so
        `build` with the same arguments followed by `load_state` rebuilds the model.
        """
        return self.compress(factory.build(), budget, seed)

    def compress(self, model: nn.Module, budget: int, seed: int) -> nn.Module:
        """Transform the dense `model` (in place where it can) to store at most `budget` numbers."""
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
        """The exported floating-point numbers, except running statistics (batch norm's): buffers are
        computed from the data, not learned, so they count in bytes but not as parameters."""
        buffers = {name for name, _ in model.named_buffers()}
        state = self.export_state(model)
        return count_stored_tensors({key: value for key, value in state.items() if key not in buffers})

    # Byte budgets (bench/compression/budget.py): a method is sized by measuring checkpoints.

    def build_for_sizing(self, factory: ModelFactory, budget: int, seed: int) -> nn.Module:
        """A model whose checkpoint has the size of `build`'s, only to be measured: a method whose
        build computes what its checkpoint does not hold (a hash index) can skip that."""
        return self.build(factory, budget, seed)

    def planned_bytes(self, model: nn.Module, state_bytes: StateBytes) -> int:
        """The most bytes `model`'s checkpoint will take once trained. By default its export now:
        the stored tensors keep their sizes through training."""
        return state_bytes(self.export_state(model))

    def keep_within_bytes(self, limit: int, state_bytes: StateBytes) -> None:
        """Called under a byte budget before `build`. A method whose checkpoint size is decided in
        training (pruning) keeps the limit to honour it then; the others' sizes are fixed by `build`."""


class LayerwiseMethod(Method):
    """A transform that compresses every Linear and Conv2d layer but those named in `keep_dense`;
    what it leaves dense (those, batch norm) counts in what it stores."""

    def __init__(self, keep_dense=()):
        self.keep_dense = tuple(keep_dense or ())
