"""Read every result record under the given directories; skip, with a warning, those a report cannot use."""
from __future__ import annotations

import logging
from pathlib import Path

from bench.errors import UserError
from bench.run.record import RESULT_FILE, is_compress_record, record_problem
from bench.run.resume import ATTEMPTS_DIR, FINAL_STATUSES
from bench.storage.state_files import UnreadableStateFile, read_json_object

log = logging.getLogger("bench")

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


def compress_records(records: list[dict]) -> list[dict]:
    """Benchmark records of the classification-compression task (records written before `task` existed
    are such); tuning trials, which have no test error by design, are left out."""
    return [r for r in records if is_compress_record(r) and r.get("evaluate_test", True)]
