"""Grey-scale photographs and random, textured 28x28 patches of them (backgrounds of `bg_img`)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from bench.errors import UserError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def load_photographs(folder: str | None) -> tuple[list[np.ndarray], list[dict]]:
    """(grey uint8 images, [{name, sha256}]): the user's FOLDER, or scikit-learn's sample photographs."""
    from PIL import Image

    if folder is None:
        from sklearn.datasets import load_sample_images

        sample = load_sample_images()
        paths = [Path(p) for p in sample.filenames]
    else:
        root = Path(folder)
        if not root.is_dir():
            raise UserError(f"dataset.photos_dir={folder}: no such folder; expected a folder of photographs "
                            f"({', '.join(PHOTO_SUFFIXES)})")
        paths = sorted(p for p in root.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        if not paths:
            raise UserError(f"dataset.photos_dir={folder}: no photographs in it; expected files ending in "
                            f"{', '.join(PHOTO_SUFFIXES)}")
    photos, described = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                grey = np.asarray(image.convert("L"), dtype=np.uint8)
        except OSError as err:
            raise UserError(f"{path}: not a readable image ({err})") from None
        if min(grey.shape) < 28:
            raise UserError(f"{path}: {grey.shape[1]}x{grey.shape[0]} pixels; expected at least 28x28")
        photos.append(grey)
        described.append({"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    return photos, described


def textured_patches(rng: np.random.Generator, photos: list[np.ndarray], count: int, min_std: float,
                     side: int = 28) -> np.ndarray:
    """`count` uint8 patches (count, side, side) at uniformly random photos and positions.

    Patches whose pixel standard deviation (on the [0, 1] scale) is below `min_std` carry
    little texture and are rejected, as in the published sets.
    """
    stds = [_window_std(photo, side) for photo in photos]
    which, tops, lefts = [], [], []
    for _ in range(100):
        photo = rng.integers(0, len(photos), size=2 * count)
        top = rng.integers(0, [stds[i].shape[0] for i in photo])
        left = rng.integers(0, [stds[i].shape[1] for i in photo])
        std = np.empty(len(photo))
        for i in range(len(photos)):
            std[photo == i] = stds[i][top[photo == i], left[photo == i]]
        textured = std >= min_std
        which.append(photo[textured]), tops.append(top[textured]), lefts.append(left[textured])
        if sum(map(len, which)) >= count:
            break
    else:
        raise UserError(f"dataset.min_patch_std={min_std}: hardly any {side}x{side} patch of the photographs is "
                        f"that textured; expected a smaller value (e.g. 0.05)")
    which, tops, lefts = (np.concatenate(a)[:count] for a in (which, tops, lefts))
    patches = np.empty((count, side, side), dtype=np.uint8)
    for i, photo in enumerate(photos):
        mine = which == i
        rows = tops[mine, None, None] + np.arange(side)[None, :, None]
        cols = lefts[mine, None, None] + np.arange(side)[None, None, :]
        patches[mine] = photo[rows, cols]
    return patches


def _window_std(photo: np.ndarray, side: int) -> np.ndarray:
    """Standard deviation (pixels scaled to [0, 1]) of every side x side window, by top-left corner."""
    x = photo.astype(np.float64) / 255
    sums = [np.pad(np.cumsum(np.cumsum(v, 0), 1), ((1, 0), (1, 0))) for v in (x, x * x)]
    window = [s[side:, side:] - s[:-side, side:] - s[side:, :-side] + s[:-side, :-side] for s in sums]
    mean, mean_sq = window[0] / side**2, window[1] / side**2
    return np.sqrt(np.maximum(mean_sq - mean**2, 0))
