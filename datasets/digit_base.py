"""The digits that the MNIST-based variation sets are made from: full MNIST, or the 5,000-digit subset.

Digits come in three disjoint pools (train, validation, test): no digit image is ever
used on two sides, even transformed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import UserError
from datasets.mnist import read_full_mnist_or_fall_back
from datasets.mnist5k import SOURCE as MNIST5K_SOURCE, mnist5k_split

BASES = ("mnist", "mnist5k")
POOL_SEED = 0  # fixes which digits go to which pool, for every data set and generator seed
FULL_MNIST_POOLS = {"train": 10_000, "val": 2_000}  # the rest of the 70,000 digits is the test pool


@dataclass
class DigitBase:
    name: str  # "mnist" (all 70,000 digits) or "mnist5k" (5,000)
    pools: dict  # split -> (uint8 images (N, 28, 28), int64 labels), in a seeded random order
    notes: dict


def load_digit_base(base: str, root: str, download: bool, strict: bool, requested: str,
                    recorded_as_fallback: str) -> DigitBase:
    """Full MNIST (from ROOT, or downloaded), or mnist5k when asked for or when full MNIST cannot be had."""
    if base not in BASES:
        raise UserError(f"dataset.base={base!r} is not a digit base; expected one of {', '.join(BASES)}")
    reason = None
    if base == "mnist":
        arrays, reason = read_full_mnist_or_fall_back(root, download, strict, requested, recorded_as_fallback)
        if arrays is not None:
            return _full_mnist_pools(*arrays, root)
    images, labels, train, val, test = mnist5k_split()
    rng = np.random.default_rng(POOL_SEED)
    pools = {split: (images[idx], labels[idx]) for split, idx in
             (("train", rng.permutation(train)), ("val", rng.permutation(val)), ("test", rng.permutation(test)))}
    notes = {"base": "mnist5k", "base_source": MNIST5K_SOURCE}
    if reason:
        notes["fallback_reason"] = reason
    return DigitBase("mnist5k", pools, notes)


def _full_mnist_pools(train_images, train_labels, test_images, test_labels, root: str) -> DigitBase:
    images = np.concatenate([train_images, test_images])
    labels = np.concatenate([train_labels, test_labels]).astype(np.int64)
    order = np.random.default_rng(POOL_SEED).permutation(len(labels))
    n_train, n_val = FULL_MNIST_POOLS["train"], FULL_MNIST_POOLS["val"]
    cuts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    return DigitBase("mnist", {split: (images[idx], labels[idx]) for split, idx in cuts.items()},
                     {"base": "mnist", "base_source": f"torchvision MNIST under {root} (all 70,000 digits)"})
