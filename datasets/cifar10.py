"""`cifar10`: CIFAR-10 (Krizhevsky 2009), 32x32 colour images of 10 classes; 50,000 train
(a stratified share held out for validation) / 10,000 test.

Read from torchvision's layout, ROOT/cifar-10-batches-py/ (data_batch_1 .. data_batch_5 and
test_batch), downloaded and unpacked there when missing and `download` is on. The batches are
read here, not by torchvision's class, so that every file is checked and a bad one is named.
"""
from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np

from bench.errors import UserError
from datasets.augment import make_augment
from datasets.splits import DataSplits, as_tensors, stratified_holdout

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
IMAGE_SHAPE = (3, 32, 32)  # a row of b"data" holds the red, then green, then blue plane, each row by row
NUM_CLASSES = 10


def load_cifar10(root: str = "data", download: bool = True, val_fraction: float = 0.1, split_seed: int = 0,
                 augment: dict | None = None) -> DataSplits:
    """Images (N, 3, 32, 32) in [0, 1]; `augment` ({crop_padding, flip}) for training batches, or None."""
    if not 0 < val_fraction < 1:
        raise UserError(f"dataset.val_fraction={val_fraction}: expected a fraction between 0 and 1 (exclusive)")
    augmenter = make_augment(augment)  # checked before anything is read or downloaded
    folder = Path(root, FOLDER)
    if _missing(folder):
        _download(root, folder, download)
    train_images, train_labels = _read_batches(folder, TRAIN_FILES)
    test_images, test_labels = _read_batches(folder, (TEST_FILE,))
    train, val = stratified_holdout(train_labels, fraction=val_fraction, seed=split_seed)
    return DataSplits(
        "cifar10", *as_tensors(train_images[train], train_labels[train]),
        *as_tensors(train_images[val], train_labels[val]), *as_tensors(test_images, test_labels),
        num_classes=NUM_CLASSES, notes={"source": f"CIFAR-10 python batches in {folder}"},
        augment=augmenter,
    )


def _missing(folder: Path) -> list[str]:
    return [name for name in (*TRAIN_FILES, TEST_FILE) if not (folder / name).is_file()]


def _download(root: str, folder: Path, download: bool) -> None:
    """Fetch and unpack the official archive into ROOT; any failure is one UserError line."""
    expected = f"expected {', '.join(_missing(folder))} there (torchvision's CIFAR-10 python layout)"
    if not download:
        raise UserError(f"dataset=cifar10: no CIFAR-10 in {folder} and download=false; {expected}")
    from torchvision.datasets.utils import download_and_extract_archive

    try:
        download_and_extract_archive(URL, download_root=root, md5=MD5)
    except (OSError, RuntimeError, ValueError, tarfile.TarError) as err:
        raise UserError(f"dataset=cifar10: no CIFAR-10 in {folder} and the download from {URL} failed "
                        f"({_first_line(err)}); {expected}") from None
    if _missing(folder):
        raise UserError(f"dataset=cifar10: {URL} did not unpack to {folder}; {expected}")


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR-10 batch holds (dicts, lists, bytes, str, numbers, numpy arrays and scalars) and
    nothing else: a plain pickle.load would call any function a crafted file names."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch never holds")
        return super().find_class(module, name)


def _read_batches(folder: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [_read_batch(folder / name) for name in names]
    return np.concatenate([images for images, _ in pairs]), np.concatenate([labels for _, labels in pairs])


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, 3, 32, 32), int64 labels) of one pickled batch; a bad file is a UserError naming it."""
    try:
        with open(path, "rb") as file:
            batch = _BatchUnpickler(file, encoding="bytes").load()  # the batches were pickled by Python 2
    except Exception as err:  # a damaged pickle fails in many ways (EOFError, UnpicklingError, KeyError, ...)
        raise UserError(f"{path}: unreadable or corrupt ({_first_line(err)}); expected a pickled "
                        f"CIFAR-10 batch") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise UserError(f"{path}: not a CIFAR-10 batch; expected a pickled dict with b'data' and b'labels'")
    images, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    row = int(np.prod(IMAGE_SHAPE))
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != row or labels.shape != (len(images),):
        raise UserError(f"{path}: data {images.dtype} {images.shape} and labels {labels.shape}; expected uint8 "
                        f"(N, {row}) and N labels")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0 or labels.max(initial=0) >= NUM_CLASSES:
        raise UserError(f"{path}: labels are not all whole numbers in 0..{NUM_CLASSES - 1}")
    return images.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int64)


def _first_line(err: Exception) -> str:
    message = str(err).strip()
    return f"{type(err).__name__}: {message.splitlines()[0]}" if message else type(err).__name__
