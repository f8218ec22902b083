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

from bench.launch.orphans import descendant_processes, held_run_locks


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


SIGINT_EXIT, SIGTERM_EXIT = 130, 143  # 128 + the signal's number, as a shell reports a process it killed
WORKERS_GRACE_SECONDS = 5  # at most how long a launcher waits for its workers to record their runs
SIGNAL_AGAIN_SECONDS = 0.5  # how often it signals a worker that still holds its run meanwhile


def stop_run_on_signals() -> None:
    """In a process that trains runs: from now on SIGTERM raises Terminated, and Ctrl-C KeyboardInterrupt as
    Python does, in its main thread (signals reach no other)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # not the launcher's, when it is the same process


def stop_sweep_on_signals() -> None:
    """In a sweep's launching process: on Ctrl-C or SIGTERM, let its local workers record their runs first.

    A terminal's Ctrl-C reaches every process of the session at once; a `kill` reaches only the
    launcher, which passes SIGTERM on. Either way the launcher then waits (at most
    WORKERS_GRACE_SECONDS) until each run its workers held at the signal is recorded and let go, and only
    then stops, which ends the workers: stopping at once killed a worker still writing its record.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_sweep)
        signal.signal(signal.SIGINT, _stop_sweep)


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _stop_sweep(signum, frame) -> None:
    for repeated in (signal.SIGTERM, signal.SIGINT):  # a second signal while waiting changes nothing
        signal.signal(repeated, signal.SIG_IGN)
    held = {pid: held_run_locks(pid) for pid in descendant_processes()}
    now = time.monotonic()
    deadline = now + WORKERS_GRACE_SECONDS
    # SIGTERM is passed on at once; a Ctrl-C reached the workers itself. Either is sent again to a worker
    # still holding its run: an interrupt raised where a library swallows exceptions (seen about once in
    # 15 stops on a loaded machine) leaves the run training.
    send_at = now if signum == signal.SIGTERM else now + SIGNAL_AGAIN_SECONDS
    while now < deadline:
        holding = [pid for pid, locks in held.items() if held_run_locks(pid) & locks]
        if not holding:
            break
        if now >= send_at:
            for pid in holding:
                try:
                    os.kill(pid, signum)
                except OSError:  # it ended meanwhile
                    pass
            send_at = now + SIGNAL_AGAIN_SECONDS
        time.sleep(0.05)
        now = time.monotonic()
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def how_stopped(interrupt: KeyboardInterrupt) -> tuple[str, int]:
    """(what stopped the process, in words; its exit status)."""
    return ("SIGTERM", SIGTERM_EXIT) if isinstance(interrupt, Terminated) else ("Ctrl-C", SIGINT_EXIT)
