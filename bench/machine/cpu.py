"""How a run uses the CPU: its share of the cores (`threads`) and flushing denormal floats
(`flush_denormal`). Neither changes what a run computes beyond float rounding, so neither is part
of its identity (bench/run/record.py); both are recorded under `cpu`.

Threads: `threads=auto` gives each job the cores it may run on divided by the jobs its launcher
runs at once (`hydra.launcher.n_jobs` of `parallel`; one job otherwise), so two jobs on two cores
take one thread each instead of fighting over both. torch and numba get the same count.

Denormals: ReLU nets drift into numbers below float32's normal range, which this CPU computes
many times slower. `torch.set_flush_denormal(True)` sets the FTZ/DAZ bits of the calling thread's
MXCSR; numba's serial kernels run in the calling thread, and its worker threads take the bits up
when they are set (tested in a fresh process). Turning flushing off again does not reach numba's
workers that have flushed, so a process that flushed once says so in every later record.
"""
from __future__ import annotations

import logging
import os
import sys

import torch
from hydra.core.hydra_config import HydraConfig

from bench.errors import UserError

log = logging.getLogger("bench")


def usable_cores() -> int:
    """Cores this process may run on, not the machine's: its affinity mask (taskset, a Slurm cgroup), and
    within a Slurm job the CPUs allocated to each task (a cluster without cgroups leaves the mask whole)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    allocated = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return min(cores, int(allocated)) if allocated.isdigit() and int(allocated) > 0 else cores


def concurrent_jobs(cores: int) -> int:
    """How many jobs the launcher running this one runs at once: the parallel launcher's processes for its
    n_jobs, else 1 (the basic launcher; a Slurm job has its own allocation)."""
    if not HydraConfig.initialized():
        return 1
    n_jobs = HydraConfig.get().launcher.get("n_jobs")
    return 1 if n_jobs is None else processes_at_once(n_jobs, cores)


def processes_at_once(n_jobs: int, cores: int) -> int:
    """The processes joblib's `n_jobs` asks for (-1: one per core, -k: cores + 1 - k), at most the cores."""
    return max(1, min(cores, n_jobs) if n_jobs > 0 else cores + 1 + n_jobs)


def thread_count(threads) -> tuple[int, str]:
    """(threads, why) for `threads=auto` or a positive int; a UserError otherwise."""
    if threads == "auto":
        cores = usable_cores()
        jobs = concurrent_jobs(cores)
        return max(1, cores // jobs), f"auto: {cores} cores / {jobs} concurrent jobs"
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UserError(f"threads={threads!r}: allowed are auto or a positive integer")
    cores = usable_cores()
    if threads > cores:  # more threads than cores only take turns on them (and numba starts each one)
        return cores, f"threads={threads}: more than the {cores} usable cores; using {cores}"
    return threads, "threads option"


def set_threads(count: int) -> int:
    """Use `count` threads in torch and numba; returns numba's count. numba is imported only by the
    methods that need it (hashed layers): before that, its thread count is set through the
    environment it reads when imported; after, capped by the pool it started with. numba first:
    starting its OpenMP pool sets OpenMP's thread count, which torch reads too."""
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = str(count)
        numba_threads = count
    else:
        import numba

        numba_threads = min(count, numba.config.NUMBA_NUM_THREADS)
        numba.set_num_threads(numba_threads)
    torch.set_num_threads(count)
    return numba_threads


_flushed_before = False  # whether this process has flushed denormals (see the module's docstring)


def configure_cpu(threads, flush_denormal: bool) -> dict:
    """Apply `threads` and `flush_denormal` to this process; returns what the record keeps."""
    count, source = thread_count(threads)
    if threads != "auto" and count < threads:  # capped at the cores: said aloud, and the record keeps why
        log.warning(source)
    numba_threads = set_threads(count)
    supported = torch.set_flush_denormal(bool(flush_denormal))  # False where the CPU has no FTZ/DAZ
    flushing = bool(flush_denormal) and supported
    if flush_denormal and not supported:
        log.warning("flush_denormal=true: this CPU cannot flush denormals; they are computed as they are")
    global _flushed_before
    numba_workers_may_flush = flushing or _flushed_before
    if numba_workers_may_flush and not flushing:
        log.warning("flush_denormal=false: an earlier run of this process flushed, and numba's worker threads "
                    "may still flush denormals")
    _flushed_before = numba_workers_may_flush
    return {"threads": count, "threads_source": source, "numba_threads": numba_threads,
            "flush_denormal_requested": bool(flush_denormal), "flush_denormal": flushing,
            "numba_workers_may_flush": numba_workers_may_flush}
