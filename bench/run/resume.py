"""A run's own directory, keyed by its experiment's identity, so sweeps resume and never clobber.

`OUTPUT_ROOT/runs/<config_hash>/` holds one experiment's `result.json`, `model.pt` and wandb
files; the hash covers the resolved experiment config, not output paths or loggers. Claiming it:

- a `complete` or `diverged` `result.json`: the run is skipped (`rerun=true` forces it again);
- `status: running` that no live process holds: an interrupted (killed) run, redone;
- `status: failed`, or `interrupted` (Ctrl-C): redone;
- a `complete` record whose checkpoint is missing or differs from the digest it records: redone;
- a record that cannot be read or is not a JSON object: moved aside (`result.json.corrupt-<n>`), redone;
- a live process holding the directory's lock (the same experiment launched twice at once):
  skipped, so two processes never write the same directory.

Before a new attempt, the files of the previous one move to `attempts/<n>/`: nothing is
overwritten. The lock is an OS file lock, released by the kernel when its process dies.
"""
from __future__ import annotations

import datetime
import fcntl
import logging
import os
import socket
from pathlib import Path

from bench.run.identity import config_hash, experiment_config
from bench.run.record import CHECKPOINT_FILE, RESULT_FILE, write_result
from bench.storage.state_files import UnreadableStateFile, file_sha256, quarantine, read_json_object

log = logging.getLogger("bench")

RUNS_DIR = "runs"
LOCK_FILE = ".lock"
ATTEMPTS_DIR = "attempts"
# A run that ended with a result: `diverged` is one too (the same seed diverges again).
FINAL_STATUSES = ("complete", "diverged")


def run_dir_of(output_root, cfg) -> Path:
    return Path(output_root) / RUNS_DIR / config_hash(cfg)


def read_record(run_dir: Path) -> dict | None:
    """The run's record; None when there is none. One that cannot be read is moved aside (and None)."""
    path = Path(run_dir) / RESULT_FILE
    try:
        return read_json_object(path)
    except UnreadableStateFile as err:
        quarantine(path, str(err))
        return None


def checkpoint_problem(run_dir: Path, record: dict) -> str | None:
    """Why a `complete` record's checkpoint cannot be trusted (missing, or not the bytes it records), or None.

    Records that name no checkpoint (diverged runs, theory experiments) have nothing to check; records
    older than `checkpoint_sha256` are checked for the file only.
    """
    if record.get("status") != "complete" or not {"checkpoint_sha256", "bytes_on_disk"} & record.keys():
        return None
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        return f"its {CHECKPOINT_FILE} is missing"
    expected = record.get("checkpoint_sha256")
    actual = file_sha256(path) if expected is not None else None
    if actual != expected:
        return (f"its {CHECKPOINT_FILE} is not the one it recorded (sha256 {actual[:12]}..., "
                f"recorded {str(expected)[:12]}...)")
    return None


class RunSlot:
    """The claim on one run directory: `skipped` with the reason, or held until the `with` block ends.

    Inside `with slot:` (or at `close(error)`), an exception marks the record `failed` (with the error),
    Ctrl-C marks it `interrupted`; `with` re-raises either.
    """

    def __init__(self, run_dir: Path, start_record: dict, lock_file=None, skip_reason: str | None = None,
                 previous: dict | None = None):
        self.dir, self.start_record = run_dir, start_record
        self.lock_file, self.skip_reason, self.previous = lock_file, skip_reason, previous

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None

    def __enter__(self) -> "RunSlot":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close(error)

    def close(self, error: BaseException | None = None) -> None:
        """End the claim, once: an error marks the record `failed` (`interrupted` for Ctrl-C or SIGTERM).

        A second call changes nothing, so a Ctrl-C that lands after the record says `running` but before
        the `with` block starts is recorded by whoever catches it, and one inside the block only once.
        """
        if self.lock_file is None:  # skipped, or already closed
            return
        if error is not None:
            status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            ended = {**self.start_record, "status": status, "error": f"{type(error).__name__}: {error}",
                     "ended": _now()}
            try:
                write_result(self.dir, ended)
            except OSError as write_error:  # e.g. the full disk that ended the run: its own error is the one to report
                log.warning("could not record the run as %s: %s (result.json still says running)", status, write_error)
        self.release()

    def release(self) -> None:
        if self.lock_file is not None:
            self.lock_file.close()  # closing drops the lock
            self.lock_file = None


def claim_run_dir(cfg, summary: dict, rerun: bool = False) -> RunSlot:
    """Claim `runs/<hash>/` for `cfg`, or say why the run is skipped.

    `summary`: fields that name the experiment in the record (task, method, data set, ...), written
    at once with `status: running`, so an interrupted or failed run still shows up in reports.
    """
    run_dir = run_dir_of(cfg.output_root, cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    start_record = {**summary, "status": "running", "config": experiment_config(cfg),
                    "config_hash": config_hash(cfg), "run_dir": str(run_dir), "started": _now(),
                    "host": socket.gethostname(), "pid": os.getpid()}
    lock_file = open(run_dir / LOCK_FILE, "a")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        return RunSlot(run_dir, start_record, skip_reason="another live process is running this experiment now")
    previous = read_record(run_dir)
    problem = checkpoint_problem(run_dir, previous) if previous else None
    if problem:
        log.warning("run %s: recorded complete, but %s; running it again", run_dir.name, problem)
    elif previous and previous.get("status") in FINAL_STATUSES and not rerun:
        lock_file.close()
        return RunSlot(run_dir, start_record, previous=previous,
                       skip_reason=f"already {previous['status']} (rerun=true runs it again)")
    moved_to = _archive_previous_attempt(run_dir)
    if moved_to:
        status = previous.get("status", "unreadable") if previous else "no result"
        log.warning("run %s: previous attempt (%s) moved to %s; running it again", run_dir.name, status, moved_to)
    write_result(run_dir, start_record)
    return RunSlot(run_dir, start_record, lock_file=lock_file)


def _archive_previous_attempt(run_dir: Path) -> Path | None:
    """Move everything but the lock and earlier attempts into `attempts/<n>/`."""
    leftovers = [p for p in run_dir.iterdir() if p.name not in (LOCK_FILE, ATTEMPTS_DIR)]
    if not leftovers:
        return None
    attempts = run_dir / ATTEMPTS_DIR
    attempts.mkdir(exist_ok=True)
    # after the highest number present, not the count: an attempt deleted by hand leaves a gap
    numbers = [int(p.name) for p in attempts.iterdir() if p.name.isdigit()]
    target = attempts / str(max(numbers, default=0) + 1)
    target.mkdir()
    for path in leftovers:
        path.rename(target / path.name)
    return target


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
