"""SIGTERM ends a run as Ctrl-C does: one line, the record `interrupted`, redone by the next launch.

SIGTERM is what `kill`, Slurm (at a time limit, on preemption or `scancel`) and container stops
send. Python's default is to die at once, which left the record `running` and said nothing. Here
it raises `Terminated`, a KeyboardInterrupt, so every place that handles Ctrl-C handles it too;
only the line printed and the exit status (128 + 15) differ.
"""
from __future__ import annotations

import signal
import threading


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


SIGINT_EXIT, SIGTERM_EXIT = 130, 143  # 128 + the signal's number, as a shell reports a process it killed


def stop_on_sigterm() -> None:
    """From now on, SIGTERM raises Terminated in this process's main thread (signals reach no other)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def how_stopped(interrupt: KeyboardInterrupt) -> tuple[str, int]:
    """(what stopped the process, in words; its exit status)."""
    return ("SIGTERM", SIGTERM_EXIT) if isinstance(interrupt, Terminated) else ("Ctrl-C", SIGINT_EXIT)
