"""`hydra/launcher=parallel`: joblib's local processes, with `n_jobs` checked and capped.

joblib answers `n_jobs=0` with a traceback, and `n_jobs=1000` starts a thousand processes that
fight over a few cores and finish nothing. Here a bad value is one error line, and the processes
started are at most the jobs in the batch and the cores this process may use (said aloud when capped).
"""
from __future__ import annotations

import logging
import sys
from typing import Sequence

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

from bench.machine.cpu import processes_at_once, usable_cores

log = logging.getLogger("bench")


class ParallelLauncher(JoblibLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        requested, cores = self.joblib.get("n_jobs"), usable_cores()
        processes = worker_processes(requested, cores, len(job_overrides))
        if processes is None:
            print(f"error: hydra.launcher.n_jobs={requested!r}: allowed are a positive integer (processes at once) "
                  f"or -1 .. -{cores} (-1: one per usable core, -2: all but one, ...)", file=sys.stderr)
            sys.exit(2)
        if isinstance(requested, int) and requested > cores:
            log.warning("hydra.launcher.n_jobs=%d: more processes than the %d usable cores only compete for them; "
                        "running at most %d at a time", requested, cores, cores)
        self.joblib["n_jobs"] = processes
        try:
            return super().launch(job_overrides, initial_job_idx)
        finally:
            self.joblib["n_jobs"] = requested


def worker_processes(n_jobs, cores: int, jobs: int) -> int | None:
    """How many processes to start for `jobs` jobs; None for an n_jobs joblib cannot take."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -cores:
        return None
    return max(1, min(processes_at_once(n_jobs, cores), jobs))
