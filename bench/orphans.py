"""A sweep's local worker processes end when the sweep's own process dies.

`python main.py -m ... hydra/launcher=parallel` runs its jobs in worker processes (joblib/loky;
submitit's local mode likewise). If the launching process is killed (`kill -9`, an out-of-memory
kill), nothing tells them: they would go on training for minutes, holding their runs' locks and
the CPU. Each such worker watches its parent and exits when it is gone; its record stays `running`
and the next launch of the sweep redoes it (bench/resume.py).

Only a direct child of the launching process on the same host watches: a job that runs in the
launching process itself (the basic launcher), or under Slurm, has no such parent to outlive.
"""
from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time

log = logging.getLogger("bench")

LAUNCHER_ENV = "BENCH_LAUNCHER"  # "host:pid" of the `main.py` process that launched the sweep
POLL_SECONDS = 0.5


def mark_launching_process() -> None:
    """Called by `main.py` before Hydra starts: its worker processes inherit the mark."""
    os.environ[LAUNCHER_ENV] = f"{socket.gethostname()}:{os.getpid()}"


def exit_with_launcher() -> None:
    """In a worker of the launching process: exit at once when that process dies."""
    launcher = os.environ.get(LAUNCHER_ENV)
    parent = os.getppid()
    if launcher != f"{socket.gethostname()}:{parent}":
        return
    _watch_in_background(parent)


@functools.cache  # one watcher per worker process, however many jobs it runs
def _watch_in_background(parent: int) -> None:
    threading.Thread(target=_watch, args=(parent,), name="exit-with-launcher", daemon=True).start()


def _watch(parent: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent:  # orphaned: re-parented to init or a subreaper
            log.error("the sweep's process %d is gone; this worker (pid %d) exits, its run stays `running` "
                      "and is redone when the sweep is launched again", parent, os.getpid())
            os._exit(1)
