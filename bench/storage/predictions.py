"""A final run's per-example test predictions, kept beside its record for paired comparisons.

`test_predictions.npz` holds two integer arrays of the test set's length: `predicted` (the class
the model chose) and `label` (the true class). The record keeps the file's sha256
(`test_predictions_sha256`), as it does the checkpoint's. The file is data: it is read with
`np.load(allow_pickle=False)`, and a reader trusts it only when its digest matches the record, its
arrays have the expected kinds and shapes, and it reproduces the record's test error exactly.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from bench.storage.files import write_atomically
from bench.storage.state_files import UnreadableStateFile, file_sha256

PREDICTIONS_FILE = "test_predictions.npz"
ARRAYS = ("predicted", "label")


def write_test_predictions(run_dir: Path, predicted, labels) -> str:
    """Write the file into `run_dir` (atomically); return its sha256 for the record."""
    arrays = {"predicted": _compact(predicted), "label": _compact(labels)}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path = Path(run_dir) / PREDICTIONS_FILE
    write_atomically(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))
    return file_sha256(path)


def _compact(values) -> np.ndarray:
    """Class indices as the smallest unsigned type that holds them (a 10,000-example test set: 20 kB raw)."""
    values = np.asarray(values.cpu() if hasattr(values, "cpu") else values).astype(np.int64)
    return values.astype(np.uint8 if values.max(initial=0) < 256 else np.uint16 if values.max() < 65536 else np.int64)


def read_test_predictions(record: dict) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, label) of a complete final run, checked against its record; UnreadableStateFile says why not."""
    expected = record.get("test_predictions_sha256")
    if not isinstance(expected, str):
        raise UnreadableStateFile("its record names no predictions file (a run older than the file)")
    if not record.get("record_path"):
        raise UnreadableStateFile("its record was not read from a file, so its predictions file cannot be found")
    path = Path(record["record_path"]).with_name(PREDICTIONS_FILE)
    try:
        actual = file_sha256(path)
    except FileNotFoundError:
        raise UnreadableStateFile(f"its {PREDICTIONS_FILE} is missing") from None
    except OSError as err:
        raise UnreadableStateFile(f"its {PREDICTIONS_FILE} cannot be read ({err.strerror})") from None
    if actual != expected:
        raise UnreadableStateFile(f"its {PREDICTIONS_FILE} is not the one it recorded (sha256 {actual[:12]}..., "
                                  f"recorded {expected[:12]}...)")
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in ARRAYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise UnreadableStateFile(f"its {PREDICTIONS_FILE} is not a predictions file ({type(err).__name__})") from None
    predicted, label = arrays["predicted"], arrays["label"]
    if not (predicted.ndim == label.ndim == 1 and len(predicted) == len(label) > 0
            and predicted.dtype.kind in "iu" and label.dtype.kind in "iu"):
        raise UnreadableStateFile(f"its {PREDICTIONS_FILE} does not hold two integer arrays of one length")
    error = int((predicted != label).sum()) / len(label)
    if error != record.get("test_error"):
        raise UnreadableStateFile(f"its {PREDICTIONS_FILE} gives test error {error!r}, the record {record.get('test_error')!r}")
    return predicted, label
