"""SIGTERM ends a run as Ctrl-C does: one line, the record `interrupted`, redone by the next launch.

SIGTERM is what `kill`, Slurm (at a time limit, on preemption or `scancel`) and container stops
send. Python's default is to die at once, which left the record `running` and said nothing. Here
it raises `Terminated`, a KeyboardInterrupt, so every place that handles Ctrl-C handles it too;
only the line printed and the exit status (128 + 15) differ.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from bench.launch.orphans import child_processes


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


SIGINT_EXIT, SIGTERM_EXIT = 130, 143  # 128 + the signal's number, as a shell reports a process it killed
WORKERS_GRACE_SECONDS = 5  # how long a launcher waits for its workers to record their runs


def stop_on_sigterm(forward_to_workers: bool = False) -> None:
    """From now on, SIGTERM raises Terminated in this process's main thread (signals reach no other).

    `forward_to_workers`: in a sweep's launching process, SIGTERM is first passed on to the worker
    processes it started, which record their runs `interrupted` (a terminal's Ctrl-C reaches them all
    at once; a `kill` reaches only the launcher), and they get a moment to do so.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _forward_and_raise if forward_to_workers else _raise_terminated)


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _forward_and_raise(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM while passing it on changes nothing
    workers = child_processes()
    for pid in workers:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:  # it ended meanwhile
            pass
    deadline = time.monotonic() + WORKERS_GRACE_SECONDS
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.05)
    raise Terminated()


def how_stopped(interrupt: KeyboardInterrupt) -> tuple[str, int]:
    """(what stopped the process, in words; its exit status)."""
    return ("SIGTERM", SIGTERM_EXIT) if isinstance(interrupt, Terminated) else ("Ctrl-C", SIGINT_EXIT)
