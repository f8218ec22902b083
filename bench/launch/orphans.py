"""A sweep's local worker processes end when the sweep's own process dies.

`python main.py -m ... hydra/launcher=parallel` runs its jobs in worker processes (joblib/loky;
submitit's local mode likewise). If the launching process is killed (`kill -9`, an out-of-memory
kill), nothing tells them: they would go on training for minutes, holding their runs' locks and
the CPU. Each such worker watches the launching process and exits when it is gone; its record stays `running`
and the next launch of the sweep redoes it (bench/run/resume.py).

Only a descendant of the launching process on the same host watches (read from /proc, so on Linux):
a job that runs in the launching process itself (the basic launcher), or under Slurm, has no such
process to outlive.
"""
from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from pathlib import Path

from bench.run.resume import LOCK_FILE, RUNS_DIR

log = logging.getLogger("bench")

LAUNCHER_ENV = "BENCH_LAUNCHER"  # "host:pid" of the `main.py` process that launched the sweep
POLL_SECONDS = 0.5


def mark_launching_process() -> None:
    """Called by `main.py` before Hydra starts: its worker processes inherit the mark."""
    os.environ[LAUNCHER_ENV] = f"{socket.gethostname()}:{os.getpid()}"


def local_launcher() -> int | None:
    """The pid of the sweep's launching process when this process is one of its local workers, else None."""
    host, _, pid = os.environ.get(LAUNCHER_ENV, "").partition(":")
    return int(pid) if host == socket.gethostname() and pid.isdigit() and int(pid) in _ancestors() else None


def exit_with_launcher() -> None:
    """In a worker of the launching process: exit at once when that process dies."""
    launcher = local_launcher()
    if launcher is not None:
        _watch_in_background(launcher)


@functools.cache  # one watcher per worker process, however many jobs it runs
def _watch_in_background(launcher: int) -> None:
    threading.Thread(target=_watch, args=(launcher,), name="exit-with-launcher", daemon=True).start()


def _watch(launcher: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        if launcher not in _ancestors():  # it died: this process (or a parent) was re-parented
            log.error("the sweep's process %d is gone; this worker (pid %d) exits, its run stays `running` "
                      "and is redone when the sweep is launched again", launcher, os.getpid())
            os._exit(1)


def _ancestors() -> list[int]:
    """This process's parent, grandparent, ... (empty where /proc cannot be read)."""
    chain, pid = [], os.getpid()
    while pid > 1:
        pid = _parent_of(pid)
        if pid is None:  # no /proc, or a process in the chain just ended
            break
        chain.append(pid)
    return chain


def descendant_processes() -> list[int]:
    """The processes this one started, and theirs (submitit's local jobs run under a controller process),
    read from /proc; empty where it cannot be read."""
    parents = {int(entry.name): _parent_of(int(entry.name)) for entry in Path("/proc").glob("[0-9]*")}
    found, generation = [], [os.getpid()]
    while generation:
        generation = [pid for pid, parent in parents.items() if parent in generation]
        found += generation
    return found


def held_run_locks(pid: int) -> set[str]:
    """The run directories' lock files process `pid` holds open (each claimed run keeps one until it is
    recorded), read from /proc; empty when it has ended or /proc cannot be read."""
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return set()
    held = set()
    for descriptor in descriptors:
        try:
            target = Path(os.readlink(f"/proc/{pid}/fd/{descriptor}"))
        except OSError:  # closed meanwhile
            continue
        if target.name == LOCK_FILE and target.parent.parent.name == RUNS_DIR:
            held.add(str(target))
    return held


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: the parent's pid
