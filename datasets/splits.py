"""The data a run sees, and seeded, stratified splits of it."""
from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Callable

import numpy as np
import torch

from bench.errors import UserError
from bench.training.splits import SPLITS, Splits


@dataclass
class DataSplits(Splits):
    """Labelled images: x float32 in [0, 1] of shape (N, C, H, W), y int64 class labels."""

    _: KW_ONLY
    num_classes: int
    # augment(x, generator) -> x: random changes to a training batch (datasets/augment.py), or None
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None

    def __post_init__(self):
        """Every loader's labels are checked here: a label out of range would be trained on and
        counted as a wrong answer, never as the damaged data it is."""
        for split in SPLITS:
            labels = getattr(self, f"{split}_y")
            if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
                raise UserError(f"data set {self.name} ({self._source()}): {split} labels are {labels.dtype}; "
                                f"expected integer class labels")
            bad = ((labels < 0) | (labels >= self.num_classes)).nonzero()
            if len(bad):
                index = int(bad[0])
                raise UserError(f"data set {self.name} ({self._source()}): {split} label {int(labels[index])} at "
                                f"index {index} ({len(bad)} such); expected 0 <= label < {self.num_classes} "
                                f"(a corrupt or foreign label file?)")

    def _source(self) -> str:
        files = self.notes.get("files")
        return ", ".join(map(str, files)) if files else self.notes.get("source", "source unknown")



def as_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """[0, 255] images, grey (N, H, W) or (N, C, H, W) -> float32 (N, C, H, W) in [0, 1]; integer labels -> int64
    (other labels keep their type, for DataSplits to refuse rather than truncate)."""
    x = torch.tensor(np.asarray(images), dtype=torch.float32).div_(255)  # a copy: never the caller's array
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4:
        raise ValueError(f"images of shape {tuple(images.shape)}; expected (N, H, W) or (N, C, H, W)")
    labels = np.asarray(labels)
    return x, torch.as_tensor(labels, dtype=torch.int64 if np.issubdtype(labels.dtype, np.integer) else None)


def stratified_holdout(labels: np.ndarray, per_class: int | None = None, fraction: float | None = None,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held_out): from every class, `per_class` items or `fraction` of it held out.

    Seeded, so the split is the same on every run and for every method.
    """
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n = per_class if per_class is not None else round(fraction * len(members))
        held.append(members[:n])
    held_out = np.sort(np.concatenate(held))
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept, held_out
