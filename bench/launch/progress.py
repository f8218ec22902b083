"""Progress bars on a terminal: epochs within a run, runs within a sweep (done / failed / skipped of
all, time left), trials within a tuning study (best so far).

Only where the output is a terminal, and only in the process that launched (a single run, or a
sweep's launching process; never in a parallel launcher's workers, whose bars would fight): in CI
and Slurm logs nothing changes, the log lines stay. On a terminal the log lines stay too, printed
above the bars.

A sweep's jobs may run in other processes (joblib, Slurm): each reports its end with one line in a
file of the sweep's directory, named by BENCH_SWEEP_PROGRESS, which the launching process follows.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from tqdm import tqdm
from tqdm.contrib import DummyTqdmFile
from tqdm.contrib.logging import logging_redirect_tqdm

from bench.launch.orphans import LAUNCHER_ENV

PROGRESS_ENV = "BENCH_SWEEP_PROGRESS"  # the file a sweep's jobs append their ends to
POLL_SECONDS = 0.5


def on_terminal() -> bool:
    """Bars only on a terminal, and only in the launching process (or where none is marked)."""
    launcher = os.environ.get(LAUNCHER_ENV, "")
    return sys.stderr.isatty() and (not launcher or launcher.endswith(f":{os.getpid()}"))


class EpochProgress:
    """A logger (bench/run/loggers.py): one bar per training phase, with the validation error and the best."""

    def __init__(self, label: str):
        self.label, self.bar, self.phase = label, None, None
        self.redirect = logging_redirect_tqdm([logging.getLogger()])  # log lines printed above the bar

    def log_epoch(self, m: dict) -> None:
        if self.phase is None:
            self.redirect.__enter__()
        if m["phase"] != self.phase:
            self._close()
            self.phase = m["phase"]
            self.bar = tqdm(total=m["epochs"], desc=f"{self.label} {self.phase}", unit="epoch", leave=False)
        self.bar.set_postfix_str(f"val {100 * m['val_error']:.2f}% best {100 * m['best_val_error']:.2f}%",
                                 refresh=False)
        self.bar.update(1)

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def finish(self, record: dict) -> None:
        self._close()
        if self.phase is not None:
            self.redirect.__exit__(None, None, None)


def job_status(job_return) -> str:
    """complete, diverged, failed or skipped (main.py's outcome)."""
    if job_return.status == JobStatus.FAILED:
        return "failed"
    outcome = job_return.return_value or {}
    return "skipped" if outcome.get("skipped") else str(outcome.get("status"))


class SweepProgress(Callback):
    """`hydra.callbacks.progress` (conf/config.yaml): a bar over a sweep's runs, in its launching process."""

    def on_multirun_start(self, config, **kwargs) -> None:
        total = _sweep_size(config)
        if total is None or not on_terminal():  # a tuning sweep shows its studies' bars instead
            return
        path = Path(config.hydra.sweep.dir) / "progress.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        os.environ[PROGRESS_ENV] = str(path)  # inherited by the workers the launcher starts next
        _follow(path, total)

    def on_job_end(self, config, job_return, **kwargs) -> None:
        path = os.environ.get(PROGRESS_ENV)
        if path:
            try:
                with open(path, "a") as lines:  # one short line: appended whole
                    lines.write(json.dumps({"status": job_status(job_return)}) + "\n")
            except OSError:  # the bar is a nicety: it never fails a job
                pass

    def on_multirun_end(self, config, **kwargs) -> None:
        if _follower is not None:
            _follower.stop()
        os.environ.pop(PROGRESS_ENV, None)


def _sweep_size(config) -> int | None:
    """How many runs Hydra's basic sweeper launches; None for another sweeper (a tuning study's)."""
    if not config.hydra.sweeper._target_.endswith("BasicSweeper"):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    from bench.launch.sweeps import sweep_overrides

    return len(BasicSweeper.split_arguments(sweep_overrides(config), None)[0])


class _Follower:
    """Reads the sweep's progress file as the jobs append to it, and moves the bar."""

    def __init__(self, path: Path, total: int):
        self.path, self.counts, self.read = path, {}, 0
        self.bar = tqdm(total=total, desc="sweep", unit="run")
        # Hydra's log handlers, set up from here on, write above the bar (to the bar's stream, stderr)
        self.stdout, sys.stdout = sys.stdout, DummyTqdmFile(sys.stderr)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, name="sweep-progress", daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.done.wait(POLL_SECONDS):
            self._update()

    def _update(self) -> None:
        lines = self.path.read_text().splitlines()
        for line in lines[self.read:]:
            status = json.loads(line)["status"]
            self.counts[status] = self.counts.get(status, 0) + 1
            self.bar.update(1)
        self.read = len(lines)
        self.bar.set_postfix_str(", ".join(f"{n} {status}" for status, n in sorted(self.counts.items())))

    def stop(self) -> None:
        self.done.set()
        self.thread.join()
        self._update()
        self.bar.close()
        sys.stdout = self.stdout


_follower: _Follower | None = None  # a module global: the callback itself is pickled to a sweep's workers


def _follow(path: Path, total: int) -> None:
    global _follower
    _follower = _Follower(path, total)


def study_progress(study: str, n_trials: int, finished: int):
    """A bar over a tuning study's finished trials; `None` where bars are not shown."""
    if not on_terminal():
        return None
    return tqdm(total=n_trials, initial=finished, desc=f"study {study}", unit="trial")


def show_trials(bar, finished: int, best: float | None) -> None:
    if bar is None:
        return
    bar.update(finished - bar.n)
    if best is not None:
        bar.set_postfix_str(f"best val error {100 * best:.2f}%")
