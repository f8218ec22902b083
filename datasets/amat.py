"""Reading the original `.amat` files of Larochelle et al. 2007 (text: 784 pixels in [0, 1], then the label)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import UserError

PIXELS = 28 * 28  # one image, row by row

# The file names inside the authors' zip archives: (train + validation file, test file).
AMAT_FILES = {
    "basic": ("mnist_train.amat", "mnist_test.amat"),
    "rot": ("mnist_all_rotation_normalized_float_train_valid.amat", "mnist_all_rotation_normalized_float_test.amat"),
    "bg_rand": ("mnist_background_random_train.amat", "mnist_background_random_test.amat"),
    "bg_img": ("mnist_background_images_train.amat", "mnist_background_images_test.amat"),
    "bg_img_rot": ("mnist_all_background_images_rotation_normalized_train_valid.amat",
                   "mnist_all_background_images_rotation_normalized_test.amat"),
    "rect": ("rectangles_train.amat", "rectangles_test.amat"),
    "convex": ("convex_train.amat", "convex_test.amat"),
}


def find_amat(folder: str, file_name: str) -> Path:
    """FOLDER/FILE_NAME, or the one file of that name below FOLDER (the archives differ in layout)."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"dataset.amat_dir={folder}: no such folder; expected a folder holding the original "
                        f".amat files (e.g. {file_name})")
    found = [root / file_name] if (root / file_name).is_file() else sorted(root.rglob(file_name))
    if len(found) != 1:
        what = "no file" if not found else f"{len(found)} files"
        raise UserError(f"{root}: {what} named {file_name} in it; expected exactly one, as in the authors' archive")
    return found[0]


def read_amat(path: Path, rows: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 (rows, 1, 28, 28) in [0, 1], labels int64): every row checked, errors name the file."""
    try:
        table = pd.read_csv(path, sep=r"\s+", header=None, dtype=np.float64, engine="c").to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UserError(f"{path}: not an .amat file ({str(err).splitlines()[0]}); expected rows of "
                        f"{PIXELS + 1} numbers") from None
    if table.shape[1] != PIXELS + 1 or np.isnan(table).any():
        short = np.flatnonzero(np.isnan(table).any(axis=1))
        where = f"row {short[0] + 1} is short" if len(short) else f"rows have {table.shape[1]} numbers"
        raise UserError(f"{path}: corrupt or truncated ({where}); expected {PIXELS + 1} numbers per row")
    if len(table) != rows:
        raise UserError(f"{path}: {len(table)} rows; expected {rows} (corrupt, truncated or another data set?)")
    images, labels = table[:, :PIXELS], table[:, PIXELS]
    if images.min() < 0 or images.max() > 1:
        raise UserError(f"{path}: pixel values in [{images.min()}, {images.max()}]; expected [0, 1]")
    if not np.all((labels == np.round(labels)) & (labels >= 0) & (labels < num_classes)):
        raise UserError(f"{path}: labels are not all whole numbers in 0..{num_classes - 1}")
    return images.astype(np.float32).reshape(-1, 1, 28, 28), labels.astype(np.int64)
