"""Time the leaderboard's verdicts (reports/verdicts.py) on synthetic final runs at published test-set sizes.

    python tools/perf/verdicts.py [METHODS] [SEEDS]

One setup, two ratios, METHODS (8) methods x SEEDS (3) seeds per ratio, each run with its
predictions file, for test sets of 1,000 (mnist5k), 10,000 (MNIST) and 50,000 (the variation sets)
examples; prints the seconds the verdicts take (reading and checking the files included).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.storage.predictions import write_test_predictions  # noqa: E402
from reports.cells import leaderboard_cells  # noqa: E402
from reports.verdicts import VerdictOptions, add_verdicts  # noqa: E402


def synthetic_runs(root: Path, n_examples: int, methods: int, seeds: int) -> list[dict]:
    rng = np.random.default_rng(0)
    labels = np.arange(n_examples) % 10
    records = []
    for method in range(methods):
        for ratio in ("1/8", "1/64"):
            for seed in range(1, seeds + 1):
                wrong = rng.random(n_examples) < 0.05 + 0.005 * method
                run_dir = root / f"m{method}-{ratio.replace('/', '_')}-{seed}"
                run_dir.mkdir()
                digest = write_test_predictions(run_dir, np.where(wrong, (labels + 1) % 10, labels), labels)
                records.append({
                    "task": "compress", "status": "complete", "method": f"m{method}", "ratio": ratio,
                    "compression_factor": 8.0 if ratio == "1/8" else 64.0, "dataset": "d", "model": "mlp3",
                    "seed": seed, "epochs_budget": 10, "config": {}, "test_error": int(wrong.sum()) / n_examples,
                    "dataset_sizes": {"test": n_examples}, "test_predictions_sha256": digest,
                    "record_path": str(run_dir / "result.json")})
    return records


def main(methods: int, seeds: int) -> None:
    for n_examples in (1_000, 10_000, 50_000):
        with tempfile.TemporaryDirectory() as tmp:
            records = synthetic_runs(Path(tmp), n_examples, methods, seeds)
            cells = leaderboard_cells(records)
            started = time.perf_counter()
            add_verdicts(cells, records, VerdictOptions())
            seconds = time.perf_counter() - started
        print(f"{n_examples:>6,} test examples, {len(cells)} cells x {seeds} seeds: verdicts in {seconds:.2f} s "
              f"({VerdictOptions().resamples:,} resamples)")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    main(*arguments, *[8, 3][len(arguments):])
