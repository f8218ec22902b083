"""The protocol's progress: studies tuned, trials and finals done of all, the best so far, the time left.

One log line after every batch of runs (in CI and Slurm logs, the only sign of life); on a terminal,
in the launching process, a bar over all the protocol's runs (trials and finals) as well
(bench/progress.py's conventions). The time left is the wall time a run has taken in this launch
(a batch's time over its runs, so a parallel launcher's runs side by side count as such) times the
runs still missing; before any run of this launch it is unknown.
"""
from __future__ import annotations

import logging

from tqdm import tqdm

from bench.launch.progress import on_terminal

log = logging.getLogger("bench")


class ProtocolProgress:
    def __init__(self, cells: int, trials_total: int, trials_done: int, cells_tuned: int, finals_total: int):
        self.cells, self.cells_tuned = cells, cells_tuned
        self.trials_total, self.trials_done = trials_total, trials_done
        self.finals_total, self.finals_done = finals_total, 0
        self.ran, self.seconds = 0, 0.0  # runs of this launch and their wall time
        self.best: str | None = None
        self.bar = (tqdm(total=trials_total + finals_total, initial=trials_done, desc="protocol", unit="run")
                    if on_terminal() else None)

    def finals_found(self, done: int) -> None:
        self.finals_done = done
        self._move()

    def trials_ran(self, count: int, seconds: float, study: str, best: float | None, finished: bool) -> None:
        """`count` more finished trials of `study`, in `seconds`; `finished`: the study reached its target."""
        self.trials_done += count
        self.cells_tuned += finished
        self._ran(count, seconds)
        if best is not None:
            self.best = f"in study {study}: {100 * best:.2f}% validation error"
        self._report()

    def finals_ran(self, count: int, seconds: float) -> None:
        self.finals_done += count
        self._ran(count, seconds)
        self._report()

    def _ran(self, count: int, seconds: float) -> None:
        self.ran, self.seconds = self.ran + count, self.seconds + seconds

    def seconds_left(self) -> float | None:
        missing = self.trials_total - self.trials_done + self.finals_total - self.finals_done
        return self.seconds / self.ran * missing if self.ran and missing else None

    def line(self) -> str:
        left = self.seconds_left()
        best = f"; best so far {self.best}" if self.best else ""
        eta = f"; about {_duration(left)} left" if left is not None else ""
        return (f"protocol: {self.cells_tuned} of {self.cells} studies finished, {self.trials_done} of "
                f"{self.trials_total} trials, {self.finals_done} of {self.finals_total} finals{best}{eta}")

    def _report(self) -> None:
        self._move()
        log.info(self.line())

    def _move(self) -> None:
        if self.bar is not None:
            self.bar.update(self.trials_done + self.finals_done - self.bar.n)
            left = self.seconds_left()
            self.bar.set_postfix_str(f"{self.cells_tuned}/{self.cells} studies, {self.finals_done}/"
                                     f"{self.finals_total} finals" + (f", ~{_duration(left)} left" if left else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{max(minutes, 1)} min"
