"""Time the generation of all seven Larochelle et al. 2007 sets at their full published sizes.

    python tools/perf/generate_datasets.py [DATA_ROOT]

Generates in memory (no cache). Digits come from full MNIST under DATA_ROOT when it is
there; otherwise, for timing only, the 5,000 digits are repeated to fill the published pools
(said in the output: such arrays are never used for results).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from datasets.digit_base import DigitBase, load_digit_base  # noqa: E402
from datasets.larochelle import PUBLISHED_SIZES, SPLITS, WITH_PHOTOS, generate_arrays  # noqa: E402
from datasets.photo_patches import load_photographs  # noqa: E402


def published_size_base(root: str) -> DigitBase:
    base = load_digit_base("mnist", root, download=False, strict=False, requested="the timing run",
                           recorded_as_fallback="nothing (timing only)")
    if base.name == "mnist":
        return base
    print("full MNIST not found: repeating the 5,000 digits to the published pool sizes (timing only)")
    sizes = dict(zip(SPLITS, PUBLISHED_SIZES["basic"]))
    pools = {s: tuple(np.resize(a, (sizes[s], *a.shape[1:])) for a in base.pools[s]) for s in SPLITS}
    return DigitBase("mnist5k-repeated", pools, {})


def main(root: str) -> None:
    digits = published_size_base(root)
    photos, _ = load_photographs(None)
    total = 0.0
    for variation, sizes in PUBLISHED_SIZES.items():
        started = time.perf_counter()
        generate_arrays(variation, 0, dict(zip(SPLITS, sizes)), digits, photos if variation in WITH_PHOTOS else None)
        seconds = time.perf_counter() - started
        total += seconds
        print(f"{variation:<11} {sum(sizes):>7,} images  {seconds:6.1f} s")
    print(f"all seven   {total:6.1f} s  (target: under 120 s)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data")
