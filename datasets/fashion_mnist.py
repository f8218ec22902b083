"""`fashion_mnist`: Zalando's Fashion-MNIST (60,000 train / 10,000 test; validation held out from train).

Read from a local folder of the four IDX files when one is given or when Debian's
`dataset-fashion-mnist` package has installed them; otherwise through torchvision under
ROOT/FashionMNIST/raw, downloaded where the network allows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.errors import UserError
from datasets.augment import make_augment
from datasets.idx import read_idx
from datasets.splits import DataSplits, as_tensors, stratified_holdout

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist package
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def load_fashion_mnist(local_dir: str | None = None, root: str = "data", download: bool = True,
                       val_fraction: float = 0.2, split_seed: int = 0, augment: dict | None = None) -> DataSplits:
    """`local_dir` (must hold the files), else Debian's folder if present, else torchvision under ROOT.

    `augment` ({crop_padding, flip}, datasets/augment.py) changes training batches; None: none.
    """
    augmenter = make_augment(augment)  # checked before anything is read
    if local_dir is not None:
        arrays, source = read_idx_folder(Path(local_dir)), f"IDX files in {local_dir}"
    elif _idx_files(Path(DEBIAN_DIR)) is not None:
        arrays, source = read_idx_folder(Path(DEBIAN_DIR)), f"IDX files in {DEBIAN_DIR} (Debian dataset-fashion-mnist)"
    else:
        arrays, source = read_torchvision(root, download), f"torchvision FashionMNIST under {root}"
    train_images, train_labels, test_images, test_labels = arrays
    if train_images.shape[1:] != (28, 28) or len(train_images) != len(train_labels) or len(test_images) != len(test_labels):
        raise UserError(f"{source}: images {train_images.shape}/{test_images.shape} and labels "
                        f"{train_labels.shape}/{test_labels.shape} do not pair up; expected N x 28 x 28 images with N labels")
    train, val = stratified_holdout(train_labels, fraction=val_fraction, seed=split_seed)
    return DataSplits(
        "fashion_mnist", *as_tensors(train_images[train], train_labels[train]),
        *as_tensors(train_images[val], train_labels[val]), *as_tensors(test_images, test_labels),
        num_classes=10, notes={"source": source}, augment=augmenter,
    )


def _idx_files(folder: Path) -> list[Path] | None:
    """The four files in FOLDER (each plain or .gz), or None when any is missing."""
    found = []
    for name in FILES:
        candidates = [folder / name, folder / f"{name}.gz"]
        present = [p for p in candidates if p.is_file()]
        if not present:
            return None
        found.append(present[0])
    return found


def read_idx_folder(folder: Path) -> tuple[np.ndarray, ...]:
    if not folder.is_dir():
        raise UserError(f"dataset.local_dir={folder}: no such folder; expected a folder holding {', '.join(FILES)} (or .gz)")
    files = _idx_files(folder)
    if files is None:
        raise UserError(f"{folder}: missing Fashion-MNIST files; expected {', '.join(FILES)} (each may end in .gz)")
    return tuple(read_idx(path) for path in files)


def read_torchvision(root: str, download: bool) -> tuple[np.ndarray, ...]:
    from torchvision.datasets import FashionMNIST

    raw = Path(root, "FashionMNIST", "raw")
    try:
        train = FashionMNIST(root, train=True, download=download)
        test = FashionMNIST(root, train=False, download=download)
    except (RuntimeError, OSError, ValueError, AssertionError, EOFError) as err:
        how = "could not be downloaded" if download else "download=false"
        raise UserError(f"dataset=fashion_mnist: no readable Fashion-MNIST under {raw} ({how}; "
                        f"{str(err).splitlines()[0] or type(err).__name__}) nor in {DEBIAN_DIR}; expected the IDX "
                        f"files {', '.join(FILES)} there, or dataset.local_dir=FOLDER") from None
    return train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy()
