"""The engine's contract with data sets: the three splits a run trains on, selects on and tests once on."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import torch

SPLITS = ("train", "val", "test")


@dataclass
class Splits:
    """Train / validation / test tensors, inputs `*_x` (N, ...) and targets `*_y` (N,). A data set's loader
    returns a subclass of it (datasets/splits.py `DataSplits`, datasets/teacher_student.py)."""

    name: str  # the data set actually used (a fallback is named for what it is)
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    notes: dict = field(default_factory=dict)  # provenance: source, fallback reason, base digits...

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input: (C, H, W) of an image, (d,) of a vector."""
        return tuple(self.train_x.shape[1:])

    def sizes(self) -> dict:
        return {split: len(getattr(self, f"{split}_y")) for split in SPLITS}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"{split}_{part}": getattr(self, f"{split}_{part}") for split in SPLITS for part in "xy"}

    def with_tensors(self, change: Callable[[torch.Tensor], torch.Tensor]):
        """A copy with `change` applied to every split's tensors (e.g. moved to a device)."""
        return dataclasses.replace(self, **{name: change(tensor) for name, tensor in self.tensors().items()})
