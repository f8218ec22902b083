"""Read every result record under the given directories; skip, with a warning, those a report cannot use."""
from __future__ import annotations

import logging
import math
import reprlib
from pathlib import Path

from bench.errors import UserError
from bench.run.record import RESULT_FILE
from bench.run.resume import ATTEMPTS_DIR, FINAL_STATUSES
from bench.storage.state_files import UnreadableStateFile, read_json_object

log = logging.getLogger("bench")

NUMBER, TEXT, WHOLE, OBJECT = "a number", "a string", "an integer", "a JSON object"
# Fields of every record, and of the benchmark's (compress) records: name -> (kind, required)
COMMON_FIELDS = {"status": (TEXT, True), "task": (TEXT, False), "config_hash": (TEXT, False)}
COMPRESS_FIELDS = {
    "method": (TEXT, True), "ratio": (TEXT, True), "dataset": (TEXT, True), "model": (TEXT, True),
    "seed": (WHOLE, True), "compression_factor": (NUMBER, True), "epochs_budget": (WHOLE, False),
    "budget_unit": (TEXT, False), "config": (OBJECT, False), "model_options": (OBJECT, False),
    "params_stored": (NUMBER, False), "params_budget": (NUMBER, False), "bytes_on_disk": (NUMBER, False),
    "bytes_budget": (NUMBER, False),
}
NULLABLE = {"hparams": OBJECT, "hparams_source": OBJECT}  # may be null (no hparams)
# Figures a report computes with: a value outside its range (NaN, infinite, a negative error) is a damaged record
RANGES = {"test_error": (0, 1), "val_error": (0, 1), "compression_factor": (1, math.inf),
          "params_stored": (0, math.inf), "params_budget": (0, math.inf), "bytes_on_disk": (0, math.inf),
          "bytes_budget": (0, math.inf)}
IS_KIND = {
    NUMBER: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    WHOLE: lambda v: isinstance(v, int) and not isinstance(v, bool),
    TEXT: lambda v: isinstance(v, str),
    OBJECT: lambda v: isinstance(v, dict),
}


def load_records(results_dirs) -> list[dict]:
    """Every `result.json` below the directories (earlier attempts under `attempts/` left out).

    The same experiment found twice (e.g. a copied results folder) counts once: its complete
    record if there is one. Each record gets `record_path`.
    """
    by_identity: dict[str, dict] = {}
    for results_dir in map(Path, results_dirs):
        if not results_dir.is_dir():
            raise UserError(f"results directory {str(results_dir)!r} does not exist; pass folders that hold "
                            f"runs' {RESULT_FILE} files (e.g. outputs)")
        for path in sorted(results_dir.rglob(RESULT_FILE)):
            if ATTEMPTS_DIR in path.relative_to(results_dir).parts:
                continue
            try:
                record = read_json_object(path)
            except UnreadableStateFile as err:
                log.warning("skipping %s: %s", path, err)
                continue
            problem = record_problem(record)
            if problem:
                log.warning("skipping %s: %s", path, problem)
                continue
            record["record_path"] = str(path)
            identity = record.get("config_hash") or str(path.resolve())
            kept = by_identity.get(identity)
            if kept is None or (kept.get("status") not in FINAL_STATUSES and record.get("status") in FINAL_STATUSES):
                by_identity[identity] = record
    return list(by_identity.values())


def record_problem(record: dict) -> str | None:
    """Why a report cannot use this record (a field missing or of the wrong type), or None."""
    fields = dict(COMMON_FIELDS)
    if record.get("task", "compress") == "compress":
        fields.update(COMPRESS_FIELDS)
        if record.get("status") == "complete" and record.get("evaluate_test", True):
            fields["test_error"] = (NUMBER, True)
    for name, (kind, required) in fields.items():
        if name not in record:
            if required:
                return f"no {name!r} field"
        elif not IS_KIND[kind](record[name]):
            return f"{name!r} is {reprlib.repr(record[name])}; expected {kind}"
    for name, kind in NULLABLE.items():
        if record.get(name) is not None and not IS_KIND[kind](record[name]):
            return f"{name!r} is {reprlib.repr(record[name])}; expected {kind} or null"
    for name, (low, high) in RANGES.items():
        value = record.get(name)
        if IS_KIND[NUMBER](value) and not (math.isfinite(value) and low <= value <= high):
            return f"{name!r} is {value!r}; expected a finite number in [{low}, {high}]"
    return None


def compress_records(records: list[dict]) -> list[dict]:
    """Benchmark records of the classification-compression task (records written before `task` existed
    are such); tuning trials, which have no test error by design, are left out."""
    return [r for r in records if r.get("task", "compress") == "compress" and r.get("evaluate_test", True)]
