"""`convex` (Larochelle et al. 2007): one white region on black, label 1 = convex, 0 = not.

Convex candidates are intersections of random half-planes (how many: geometric, p=0.195;
at least 19 white pixels). Non-convex candidates are unions of 2 to 4 such sets (half-planes:
geometric, p=0.07; at least 10 pixels each) that fail a convexity test. The two classes are
then drawn so that their histograms of white-pixel counts match, which balances the mean
number of white pixels (the published sets were balanced for it too): the size of the
region says nothing about the label.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError

SIDE = 28
CONVEX_HALFPLANES_P, CONVEX_MIN_PIXELS = 0.195, 19
PART_HALFPLANES_P, PART_MIN_PIXELS = 0.07, 10
PARTS_LOW, PARTS_HIGH = 2, 4
COUNT_BIN = 16  # width of the white-pixel-count bins that are matched between the classes

_rows, _cols = np.mgrid[0:SIDE, 0:SIDE]
PIXEL_CENTRES = np.stack([_cols.ravel() + 0.5, _rows.ravel() + 0.5], axis=1)  # (784, 2) as (x, y)
PIXEL_CENTRES_F32 = PIXEL_CENTRES.astype(np.float32)


def halfplane_intersections(rng: np.random.Generator, count: int, p: float, min_pixels: int,
                            chunk: int = 8192) -> np.ndarray:
    """`count` masks (count, 784), each the pixels whose centres lie in all of its half-planes.

    A candidate has a geometric(`p`) number of half-planes, each bounded by a line through a
    point uniform in the image with a normal of uniform angle. Candidates left with fewer than
    `min_pixels` white pixels are rejected (dropped as soon as they fall below it: a further
    half-plane can only remove pixels).
    """
    kept, have = [], 0
    while have < count:
        n_planes = rng.geometric(p, size=chunk)
        width = n_planes.max()
        points = rng.uniform(0, SIDE, size=(chunk, width, 2)).astype(np.float32)
        angles = rng.uniform(0, 2 * np.pi, size=(chunk, width)).astype(np.float32)
        normals = np.stack([np.cos(angles), np.sin(angles)], axis=2)
        offsets = np.einsum("cwi,cwi->cw", points, normals)
        alive = np.arange(chunk)
        inside = np.ones((chunk, SIDE * SIDE), dtype=bool)
        accepted, accepted_ids = [], []
        for plane in range(width):
            inside &= (normals[alive, plane] @ PIXEL_CENTRES_F32.T) >= offsets[alive, plane, None]
            big_enough = np.count_nonzero(inside, axis=1) >= min_pixels
            done = n_planes[alive] == plane + 1
            accepted.append(inside[big_enough & done])
            accepted_ids.append(alive[big_enough & done])
            alive, inside = alive[big_enough & ~done], inside[big_enough & ~done]
            if len(alive) == 0:
                break
        # back in candidate order, so that truncating to `count` favours no number of half-planes
        kept.append(np.concatenate(accepted)[np.argsort(np.concatenate(accepted_ids))])
        have += len(kept[-1])
    return np.concatenate(kept)[:count]


def is_convex(mask: np.ndarray) -> bool:
    """Whether a (784,) pixel set is digitally convex: no black pixel centre inside its convex hull."""
    points = PIXEL_CENTRES[mask]
    try:
        hull = ConvexHull(points)
    except QhullError:  # all centres on one line: convex exactly when the line has no gap
        return _collinear_without_gap(points)
    inside_hull = (PIXEL_CENTRES @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1) <= 1e-9
    return not np.any(inside_hull & ~mask)


def _collinear_without_gap(points: np.ndarray) -> bool:
    steps = np.abs(np.diff(points[np.lexsort(points.T[::-1])], axis=0)).max(axis=1)
    return len(points) < 2 or bool(np.all(steps <= 1))


def has_line_gap(masks: np.ndarray) -> np.ndarray:
    """Per (N, 784) mask: whether some row or column has a black pixel between two white ones.

    Such a black pixel lies on the segment between two white ones: a cheap proof of
    non-convexity that spares most candidates the exact (slower) hull test.
    """
    grids = masks.reshape(-1, SIDE, SIDE)
    gaps = np.zeros(len(masks), dtype=bool)
    for lines in (grids, grids.transpose(0, 2, 1)):
        index = np.arange(SIDE)
        first = np.where(lines, index, SIDE).min(axis=2)
        last = np.where(lines, index, -1).max(axis=2)
        count = lines.sum(axis=2)
        gaps |= ((count > 0) & (count < last - first + 1)).any(axis=1)
    return gaps


def nonconvex_unions(rng: np.random.Generator, count: int, chunk: int = 2048) -> np.ndarray:
    """`count` masks, each a union of 2-4 half-plane intersections that fails the convexity test."""
    kept, have = [], 0
    while have < count:
        n_parts = rng.integers(PARTS_LOW, PARTS_HIGH + 1, size=chunk)
        parts = halfplane_intersections(rng, n_parts.sum(), PART_HALFPLANES_P, PART_MIN_PIXELS)
        unions = np.logical_or.reduceat(parts, np.concatenate([[0], np.cumsum(n_parts)[:-1]]), axis=0)
        nonconvex = has_line_gap(unions)
        nonconvex[~nonconvex] = [not is_convex(u) for u in unions[~nonconvex]]
        kept.append(unions[nonconvex])
        have += len(kept[-1])
    return np.concatenate(kept)[:count]


def matched_by_pixel_count(pos: np.ndarray, neg: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices into `pos` and `neg`, `per_class` each, with identical histograms of white-pixel counts.

    None when the pools do not overlap enough to give `per_class` of each.
    """
    bins_pos, bins_neg = pos.sum(axis=1) // COUNT_BIN, neg.sum(axis=1) // COUNT_BIN
    n_bins = SIDE * SIDE // COUNT_BIN + 1
    common = np.minimum(np.bincount(bins_pos, minlength=n_bins), np.bincount(bins_neg, minlength=n_bins))
    if common.sum() < per_class:
        return None
    share = common * per_class / common.sum()  # per-bin quota, rounded by largest remainder
    quota = np.floor(share).astype(int)
    quota[np.argsort(quota - share)[: per_class - quota.sum()]] += 1
    take = lambda bins: np.sort(np.concatenate([np.flatnonzero(bins == b)[:q] for b, q in enumerate(quota)]))
    return take(bins_pos), take(bins_neg)


def generate_convex(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (count, 28, 28) with 0/255 pixels, labels: 1 convex / 0 not), half of each, shuffled."""
    per_class = [count - count // 2, count // 2]
    need = max(per_class)
    # Large convex regions are rarer than large unions, so convex candidates (cheap) are drawn
    # in excess; the pools grow until their pixel-count histograms overlap enough.
    pos = halfplane_intersections(rng, 3 * need, CONVEX_HALFPLANES_P, CONVEX_MIN_PIXELS)
    neg = nonconvex_unions(rng, need + need // 10)
    while (picked := matched_by_pixel_count(pos, neg, need)) is None:
        pos = np.concatenate([pos, halfplane_intersections(rng, 2 * need, CONVEX_HALFPLANES_P, CONVEX_MIN_PIXELS)])
        neg = np.concatenate([neg, nonconvex_unions(rng, need // 4 + 1)])
    masks = np.concatenate([pos[picked[0][: per_class[0]]], neg[picked[1][: per_class[1]]]])
    labels = np.repeat(np.array([1, 0], dtype=np.int64), per_class)
    order = rng.permutation(count)
    return (masks[order].reshape(count, SIDE, SIDE) * 255).astype(np.uint8), labels[order]
