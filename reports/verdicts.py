"""Verdicts with ties: is each cell of a column significantly worse than the column's best, or tied with it?

For each column (setup and ratio), the best cell is the one with the lowest mean test error. Every
other ranked cell is compared with it by a paired bootstrap of the difference in mean test error
(the cell's minus the best's, in percentage points), over both sources of noise:

- test examples: each resample draws N of the N test examples with replacement, the SAME draw for
  both cells (they saw the same examples: pairing removes the examples' difficulty from the noise);
- seeds: each cell's seeds are drawn with replacement, independently (its seeds are separate
  trainings; seed k of one method has nothing to do with seed k of another).

The interval is the percentile interval at the chosen confidence. A cell whose interval lies above
0 is `worse`; otherwise it is `tied` with the best, and with it `tied for first`. Where a cell's
(or the best's) per-example predictions cannot be used (runs older than the predictions file, a
missing or damaged file: warned about), the comparison falls back to an unpaired normal interval
from the records alone: variance s_a^2/n_a + s_b^2/n_b over seeds plus p(1-p)/N per cell for the
test examples (binomial); it needs two seeds per cell, else the cell is `untested`. The resamples
come from a generator seeded by `seed` and the setup, so a report is the same every time.
"""
from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from bench.storage.predictions import read_test_predictions
from bench.storage.state_files import UnreadableStateFile
from reports.cells import SETUP

log = logging.getLogger("bench")

PAIRED, FALLBACK = "paired bootstrap", "unpaired normal (fallback)"
VERDICT_COLUMNS = ["verdict", "diff_pct", "diff_low_pct", "diff_high_pct", "test"]
# Examples x resamples drawn at once: 2,000,000 keeps a chunk's index array at 16 MB
CHUNK_DRAWS = 2_000_000


@dataclass(frozen=True)
class VerdictOptions:
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0


def add_verdicts(cells: pd.DataFrame, records: list[dict], options: VerdictOptions = VerdictOptions()) -> pd.DataFrame:
    """`cells` (reports/cells.py) with VERDICT_COLUMNS: `verdict` is `best`, `tied`, `worse`, `untested`,
    or empty for a cell without a number; the difference to its column's best and its interval, in points."""
    cells = cells.copy()
    cells["verdict"], cells["test"] = "", ""
    for column in VERDICT_COLUMNS[1:4]:
        cells[column] = math.nan
    for setup, setup_cells in cells.groupby(SETUP, dropna=False, sort=False):
        ranked = setup_cells[setup_cells["ranked"]]
        errors = _example_errors(ranked, records)
        resampled = _resampled_seed_errors(errors, _generator(options.seed, setup), options.resamples)
        for column_key, column in ranked.groupby("column", sort=False):
            best = column["test_error_mean_pct"].idxmin()
            cells.loc[best, "verdict"] = "best"
            for index in column.index.drop(best):
                rng = _generator(options.seed, setup, column_key, cells.at[best, "method_label"],
                                 cells.at[index, "method_label"])
                if best in resampled and index in resampled:
                    result = _paired(resampled[best], resampled[index], rng, options.confidence)
                    result = (cells.at[index, "test_error_mean_pct"] - cells.at[best, "test_error_mean_pct"],
                              *result, PAIRED)
                else:
                    result = _unpaired(cells.loc[best], cells.loc[index], records, options.confidence)
                cells.loc[index, VERDICT_COLUMNS[1:]] = result
                low = result[1]
                cells.loc[index, "verdict"] = ("untested" if math.isnan(low) else "worse" if low > 0 else "tied")
    cells["tied_first"] = cells["verdict"].isin(["best", "tied"])
    return cells


def _generator(seed: int, *key) -> np.random.Generator:
    """A generator for this seed and key (setup, column, cells): the same draws whatever else the report holds."""
    digest = hashlib.sha256(repr((seed, *key)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _example_errors(cells: pd.DataFrame, records: list[dict]) -> dict:
    """Cell index -> (seeds x examples) boolean matrix of test mistakes, for the cells whose every
    complete run's predictions are readable and on the setup's one test set; the others are warned about."""
    loaded, labels, problems = {}, {}, {}
    for index, cell in cells.iterrows():
        rows = []
        for position in cell["run_records"]:
            record = records[position]
            try:
                predicted, label = read_test_predictions(record)
            except UnreadableStateFile as err:
                problems.setdefault(str(err), []).append(f"{cell['method_label']} {cell['column']} seed {record['seed']}")
                break
            rows.append(predicted != label)
            labels.setdefault(label.tobytes(), []).append(index)
        else:
            loaded[index] = np.stack(rows)
    # the test set most runs saw; a run on another (a data set changed under its name) cannot be paired
    common = max(labels.values(), key=len) if labels else []
    for index in sorted({i for indices in labels.values() if indices is not common for i in indices}):
        problems.setdefault("its test labels differ from the other cells'", []).append(
            f"{cells.at[index, 'method_label']} {cells.at[index, 'column']}")
        loaded.pop(index, None)
    for why, where in problems.items():
        log.warning("%s: %s; compared by the unpaired fallback test", _few(where), why)
    return loaded


def _few(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _resampled_seed_errors(errors: dict, rng: np.random.Generator, resamples: int) -> dict:
    """Cell index -> (resamples x seeds) error rates, in points, on the same bootstrap draws of test examples."""
    if not errors:
        return {}
    n_examples = next(iter(errors.values())).shape[1]
    out = {index: np.empty((resamples, len(e))) for index, e in errors.items()}
    as_float = {index: e.T.astype(np.float32) for index, e in errors.items()}
    chunk = max(1, CHUNK_DRAWS // n_examples)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        draws = rng.integers(0, n_examples, size=(size, n_examples))
        offsets = np.arange(size)[:, None] * n_examples
        counts = np.bincount((draws + offsets).ravel(), minlength=size * n_examples).reshape(size, n_examples)
        counts = counts.astype(np.float32)
        for index, matrix in as_float.items():
            out[index][start:start + size] = 100 * (counts @ matrix) / n_examples
    return out


def _paired(best: np.ndarray, other: np.ndarray, rng: np.random.Generator, confidence: float) -> tuple:
    """The percentile interval of (other's mean - best's mean) over resampled examples and seeds."""
    differences = _seed_resampled_means(other, rng) - _seed_resampled_means(best, rng)
    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return float(low), float(high)


def _seed_resampled_means(errors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per resample (row), the mean error over the cell's seeds drawn with replacement."""
    picks = rng.integers(0, errors.shape[1], size=errors.shape)
    return np.take_along_axis(errors, picks, axis=1).mean(axis=1)


def _unpaired(best: pd.Series, other: pd.Series, records: list[dict], confidence: float) -> tuple:
    """Difference and normal interval from seeds' errors and test-set size alone; NaN bounds without two seeds a cell."""
    difference = other["test_error_mean_pct"] - best["test_error_mean_pct"]
    variance = 0.0
    for cell in (best, other):
        sizes = {(records[i].get("dataset_sizes") or {}).get("test") for i in cell["run_records"]}
        size = sizes.pop() if len(sizes) == 1 else None
        if cell["n_seeds"] < 2 or not isinstance(size, int) or size < 1:
            return difference, math.nan, math.nan, FALLBACK
        p = cell["test_error_mean_pct"] / 100
        variance += cell["test_error_std_pct"] ** 2 / cell["n_seeds"] + 100 ** 2 * p * (1 - p) / size
    half = NormalDist().inv_cdf((1 + confidence) / 2) * math.sqrt(variance)
    return difference, difference - half, difference + half, FALLBACK
