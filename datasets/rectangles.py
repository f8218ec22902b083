"""`rect` (Larochelle et al. 2007): a white rectangle outline on black; label 1 = taller than wide.

Height and width are drawn uniformly (pairs differing by fewer than 3 pixels rejected) and
the top-left corner uniformly among the positions where the whole rectangle fits.
"""
from __future__ import annotations

import numpy as np

SIDE = 28
MIN_SIDE = 2  # a side of 1 pixel would be a line, not an outline
MIN_DIFFERENCE = 3


def generate_rectangles(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 (count, 28, 28) of 0/255, labels, geometry (count, 4) as top, left, height, width).

    Exactly half (rounded) are taller than wide, in random order. Drawing the label and then an
    unordered pair uniformly from the allowed ones is the same as rejection sampling of
    uniform (height, width) pairs, with the classes balanced.
    """
    sides = np.arange(MIN_SIDE, SIDE + 1)
    long, short = np.meshgrid(sides, sides, indexing="ij")
    allowed = long - short >= MIN_DIFFERENCE
    long, short = long[allowed], short[allowed]

    labels = rng.permutation(np.arange(count) < (count + 1) // 2).astype(np.int64)
    pair = rng.integers(0, len(long), size=count)
    height = np.where(labels == 1, long[pair], short[pair])
    width = np.where(labels == 1, short[pair], long[pair])
    top = rng.integers(0, SIDE - height + 1)
    left = rng.integers(0, SIDE - width + 1)

    rows = np.arange(SIDE)[None, :, None]
    cols = np.arange(SIDE)[None, None, :]
    t, l, b, r = (v[:, None, None] for v in (top, left, top + height - 1, left + width - 1))
    within = (rows >= t) & (rows <= b) & (cols >= l) & (cols <= r)
    on_edge = (rows == t) | (rows == b) | (cols == l) | (cols == r)
    images = (within & on_edge).astype(np.uint8) * 255
    return images, labels, np.stack([top, left, height, width], axis=1)
