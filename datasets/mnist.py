"""`mnist`: full MNIST through torchvision, or, where it cannot be had, the loud `mnist5k` fallback."""
from __future__ import annotations

import logging
from pathlib import Path

from bench.errors import UserError
from datasets.augment import make_augment
from datasets.mnist5k import load_mnist5k
from datasets.splits import DataSplits, as_tensors, stratified_holdout

log = logging.getLogger(__name__)


def read_torchvision_mnist(root: str, download: bool):
    """(train images, train labels, test images, test labels) as numpy arrays, via torchvision."""
    from torchvision.datasets import MNIST

    train = MNIST(root, train=True, download=download)
    test = MNIST(root, train=False, download=download)
    return train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy()


def read_full_mnist_or_fall_back(root: str, download: bool, strict: bool, requested: str, recorded_as: str):
    """The four full-MNIST arrays, or None after a loud warning that mnist5k is used instead.

    `requested` names the data set the user asked for and `recorded_as` the name the run is
    then recorded under. With `strict` on, the fallback is an error instead. Returns
    (arrays, reason): `reason` is None when full MNIST was read.
    """
    try:
        return read_torchvision_mnist(root, download), None
    except (RuntimeError, OSError) as err:
        reason = (f"full MNIST is not under {Path(root, 'MNIST', 'raw')} and "
                  f"{'could not be downloaded' if download else 'download=false'} ({str(err).splitlines()[0]})")
        if strict:
            raise UserError(f"dataset={requested}: {reason}; dataset.strict=true forbids the mnist5k fallback") from None
        log.warning("=" * 78)
        log.warning("FALLBACK: dataset=%s requested, but %s.", requested, reason)
        log.warning("Using the 5,000-digit mnist5k subset instead; the run is recorded as dataset=%s.", recorded_as)
        log.warning("Set dataset.strict=true to make this an error, or data_root=DIR to point at MNIST.")
        log.warning("=" * 78)
        return None, reason


def load_mnist(root: str = "data", download: bool = True, strict: bool = False, val_fraction: float = 0.2,
               split_seed: int = 0, augment: dict | None = None) -> DataSplits:
    """60,000 train (a stratified `val_fraction` held out for validation) / 10,000 test.

    Looks for the IDX files under ROOT/MNIST/raw, downloading them when `download` is on.
    If that fails and `strict` is off, falls back to `mnist5k` with a loud warning; the
    returned splits are then named `mnist5k`, never `mnist`. `augment` ({crop_padding, flip},
    datasets/augment.py) changes training batches; None: none.
    """
    augmenter = make_augment(augment)  # checked before anything is read
    arrays, reason = read_full_mnist_or_fall_back(root, download, strict, requested="mnist", recorded_as="mnist5k")
    if arrays is None:
        data = load_mnist5k()
        data.notes.update(requested="mnist", fallback_reason=reason)
        data.augment = augmenter
        return data
    train_images, train_labels, test_images, test_labels = arrays
    train, val = stratified_holdout(train_labels, fraction=val_fraction, seed=split_seed)
    return DataSplits(
        "mnist", *as_tensors(train_images[train], train_labels[train]),
        *as_tensors(train_images[val], train_labels[val]), *as_tensors(test_images, test_labels),
        num_classes=10, notes={"source": f"torchvision MNIST under {root}"}, augment=augmenter,
    )
