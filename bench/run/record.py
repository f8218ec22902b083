"""The run record: one JSON file per run (`result.json`), typed here and written atomically.

The task writes it, resume, the loggers and the reports read it, and all of them follow the field
types declared below (`RunRecord` for every task, `CompressRecord` for the benchmark's). A record
is checked against them when it is written (a writer's bug fails at once) and when a report reads
it (a damaged or foreign file is skipped with the reason). `schema_version` says which layout a
record has; records written before it existed are version 1, the same fields.
"""
from __future__ import annotations

import importlib.metadata
import math
import platform
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from bench.storage.files import write_json_atomically

RESULT_FILE = "result.json"
CHECKPOINT_FILE = "model.pt"  # beside it; the record holds its sha256 (`checkpoint_sha256`)
SCHEMA_VERSION = 2
STATUSES = ("running", "complete", "diverged", "failed", "interrupted")

NUMBER, WHOLE, TEXT, FLAG, OBJECT, LIST = "a number", "an integer", "a string", "true or false", "a JSON object", "a list"
IS_KIND = {
    NUMBER: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    WHOLE: lambda v: isinstance(v, int) and not isinstance(v, bool),
    TEXT: lambda v: isinstance(v, str),
    FLAG: lambda v: isinstance(v, bool),
    OBJECT: lambda v: isinstance(v, dict),
    LIST: lambda v: isinstance(v, list),
}


@dataclass(frozen=True)
class Field:
    kind: str
    required: bool = False   # in every record of its task, whatever its status
    nullable: bool = False   # may be null (e.g. no hparams, no test error in a tuning trial)
    low: float = -math.inf   # the range of a number a report computes with: outside it, the record is damaged
    high: float = math.inf


class RunRecord(TypedDict, total=False):
    """What every task's record holds: the run's identity and lifecycle."""

    schema_version: int
    task: str
    seed: int
    status: str            # one of STATUSES
    config: dict           # the resolved experiment config (bench/run/identity.py)
    config_hash: str
    run_dir: str
    launch_dir: str        # Hydra's config and log of this attempt
    started: str
    ended: str
    host: str
    pid: int
    error: str             # failed or interrupted: what ended it
    git_commit: str | None # the code's commit (`+changes` when tracked files differ); null outside a clone
    command: str           # the command line that runs this one job again (bench/run/provenance.py)


class CompressRecord(RunRecord, total=False):
    """A benchmark run's record (task=compress, tasks/compress.py)."""

    # what names the run, known before it starts
    method: str
    ratio: str             # exact, e.g. "1/8"
    ratio_value: float
    compression_factor: float
    dataset: str           # the data set actually used (a fallback has its own name)
    dataset_requested: str
    model: str
    model_options: dict
    epochs_budget: int
    budget_unit: str
    evaluate_test: bool    # false in tuning trials: the test set is never read
    device_requested: str
    hparams: dict | None
    hparams_source: dict | None  # the study and trial of tuned hparams
    # where and how it ran
    dataset_notes: dict
    dataset_sizes: dict
    versions: dict
    device: dict
    determinism: dict
    precision: dict        # the arithmetic (bench/machine/precision.py)
    cpu: dict
    data_on_device: bool
    population: dict       # trained in a population: size, member, group, its train_seconds (docs/populations.md)
    # the budget (bench/compression/budget.py Budget.as_record)
    params_ref: int
    params_budget: int
    params_stored: int
    fill: float
    bytes_budget: int
    bytes_dense_checkpoint: int
    params_budget_fitted: int
    bytes_fill: float
    # the outcome
    bytes_on_disk: int
    checkpoint_sha256: str
    test_predictions_sha256: str  # of the per-example test predictions beside the record (bench/storage/predictions.py)
    val_error: float       # of the best validation epoch, whose weights were kept
    test_error: float | None  # evaluated once; None in a tuning trial
    best_epoch: int
    epochs_run: int
    train_seconds: float
    test_seconds: float
    history: list
    fit_notes: dict
    divergence: dict       # a diverged run: where and why (no test error, no checkpoint)
    loggers: dict


RUN_FIELDS = {
    "schema_version": Field(WHOLE), "task": Field(TEXT), "seed": Field(WHOLE), "status": Field(TEXT, required=True),
    "config": Field(OBJECT), "config_hash": Field(TEXT), "run_dir": Field(TEXT), "launch_dir": Field(TEXT),
    "started": Field(TEXT), "ended": Field(TEXT), "host": Field(TEXT), "pid": Field(WHOLE), "error": Field(TEXT),
    "git_commit": Field(TEXT, nullable=True), "command": Field(TEXT),
}
COMPRESS_FIELDS = {
    "method": Field(TEXT, required=True), "ratio": Field(TEXT, required=True), "dataset": Field(TEXT, required=True),
    "model": Field(TEXT, required=True), "seed": Field(WHOLE, required=True),
    "compression_factor": Field(NUMBER, required=True, low=1), "ratio_value": Field(NUMBER, low=0, high=1),
    "dataset_requested": Field(TEXT), "model_options": Field(OBJECT), "epochs_budget": Field(WHOLE),
    "budget_unit": Field(TEXT), "evaluate_test": Field(FLAG), "device_requested": Field(TEXT),
    "hparams": Field(OBJECT, nullable=True), "hparams_source": Field(OBJECT, nullable=True),
    "dataset_notes": Field(OBJECT), "dataset_sizes": Field(OBJECT), "versions": Field(OBJECT), "device": Field(OBJECT),
    "determinism": Field(OBJECT), "precision": Field(OBJECT), "cpu": Field(OBJECT), "data_on_device": Field(FLAG),
    "population": Field(OBJECT),
    "params_ref": Field(NUMBER, low=0), "params_budget": Field(NUMBER, low=0), "params_stored": Field(NUMBER, low=0),
    "fill": Field(NUMBER, low=0), "bytes_budget": Field(NUMBER, low=0), "bytes_dense_checkpoint": Field(NUMBER, low=0),
    "params_budget_fitted": Field(NUMBER, low=0), "bytes_fill": Field(NUMBER, low=0),
    "bytes_on_disk": Field(NUMBER, low=0), "checkpoint_sha256": Field(TEXT),
    "test_predictions_sha256": Field(TEXT),
    "test_error": Field(NUMBER, nullable=True, low=0, high=1), "val_error": Field(NUMBER, low=0, high=1),
    "best_epoch": Field(WHOLE), "epochs_run": Field(WHOLE), "train_seconds": Field(NUMBER),
    "test_seconds": Field(NUMBER), "history": Field(LIST), "fit_notes": Field(OBJECT), "divergence": Field(OBJECT),
    "loggers": Field(OBJECT),
}


def is_compress_record(record: dict) -> bool:
    """Records written before `task` existed are the benchmark's."""
    return record.get("task", "compress") == "compress"


def record_problem(record: dict, complete: bool = True) -> str | None:
    """Why `record` does not follow the schema (a field missing, of the wrong type or out of range), or None.
    `complete=False` checks only the fields it has (a record being written may name its run only in part)."""
    fields = dict(RUN_FIELDS)
    if is_compress_record(record):
        fields.update(COMPRESS_FIELDS)
        if record.get("status") == "complete" and record.get("evaluate_test", True):
            fields["test_error"] = Field(NUMBER, required=True, low=0, high=1)
    for name, field in fields.items():
        if name not in record:
            if field.required and complete:
                return f"no {name!r} field"
            continue
        value = record[name]
        if value is None and field.nullable:
            continue
        if not IS_KIND[field.kind](value):
            expected = f"{field.kind} or null" if field.nullable else field.kind
            return f"{name!r} is {reprlib.repr(value)}; expected {expected}"
        if field.kind in (NUMBER, WHOLE) and not (math.isfinite(value) and field.low <= value <= field.high):
            return f"{name!r} is {value!r}; expected a finite number in [{field.low}, {field.high}]"
    if "status" in record and record["status"] not in STATUSES:
        return f"'status' is {reprlib.repr(record['status'])}; expected one of {', '.join(STATUSES)}"
    return None


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for package in ("torch", "torchvision", "numpy", "hydra-core", "omegaconf", "wandb", "pandas"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def write_result(output_dir: Path, record: RunRecord) -> Path:
    """Write the record with its schema version; a record that breaks the schema is the writer's bug."""
    record = {"schema_version": SCHEMA_VERSION, **record}
    problem = record_problem(record, complete=False)
    if problem:
        raise ValueError(f"the run's record does not follow its schema (bench/run/record.py): {problem}")
    path = Path(output_dir) / RESULT_FILE
    write_json_atomically(path, record)
    return path
