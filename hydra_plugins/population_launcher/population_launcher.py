"""`hydra/launcher=population`: a sweep's runs grouped into populations, each trained in one process as
one stacked model (tasks/population.py).

    python main.py -m method=hashednets ratio=1/8 'seed=range(1,65)' hydra/launcher=population

Runs join a population when they differ only in the seed and in per-member hyperparameters
(tasks/population.py `population_key`); at most `population.max_size` runs a population, a larger
group split. Populations run side by side in `hydra.launcher.n_jobs` processes (joblib, as the
parallel launcher runs jobs: capped at the usable cores and the populations; `threads=auto` then
divides the cores among them); one process runs them in the launching process. With `slurm` set
(`hydra/launcher=population_slurm`) each population is one job of a Slurm job array instead (submitit,
as `hydra/launcher=slurm` submits runs), with the allocation `slurm` asks for. Every job still gets
its own JobReturn, run directory and record; a job whose settings are bad fails alone, with its
`error:` line.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from joblib import Parallel, delayed
from omegaconf import DictConfig, open_dict, read_write

from bench.errors import UserError
from bench.launch.orphans import exit_with_launcher
from bench.launch.signals import stop_run_on_signals
from bench.machine.cpu import usable_cores
from bench.machine.device import resolve_device
from bench.run.provenance import provenance
from bench.run.resume import FINAL_STATUSES, read_record, run_dir_of
from bench.run.setting_checks import POSITIVE_INT, POSITIVE_NUMBER, check_settings
from bench.run.task import start_record
from bench.storage.files import file_system_problem
from hydra_plugins.parallel_launcher.parallel_launcher import worker_processes

log = logging.getLogger("bench")


class PopulationLauncher(Launcher):
    def __init__(self, n_jobs: int = -1, slurm: DictConfig | None = None):
        self.n_jobs, self.slurm = n_jobs, slurm
        self.config: DictConfig | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from tasks.population import group_jobs, split_groups

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        max_size = self.config.population.max_size
        if not POSITIVE_INT[0](max_size):
            _refuse(f"population.max_size={max_size!r} must be {POSITIVE_INT[1]} (the most runs in one population)")
        memory_gb = self.config.population.memory_gb
        if memory_gb is not None and not POSITIVE_NUMBER[0](memory_gb):
            _refuse(f"population.memory_gb={memory_gb!r} must be {POSITIVE_NUMBER[1]} or null (the GiB one population "
                    "may plan for; null: its share of the device's free memory)")
        cores = usable_cores()
        jobs, keys, failures = [], [], {}
        for index, overrides in enumerate(job_overrides):
            cfg = self._job_config(initial_job_idx + index, overrides)
            try:
                job, key = _member_job(cfg, list(overrides))
            except (UserError, OSError) as err:
                print(f"error: {err if isinstance(err, UserError) else file_system_problem(err)}", file=sys.stderr)
                job, key, failures[index] = None, None, err
            jobs.append((cfg, job))
            keys.append(key)
        groups = group_jobs(keys, max_size)
        if worker_processes(self.n_jobs, cores, 1) is None:
            _refuse(f"hydra.launcher.n_jobs={self.n_jobs!r}: allowed are a positive integer (populations at once) "
                    f"or -1 .. -{cores} (-1: one per usable core, -2: all but one, ...)")
        if groups and _on_cpu(jobs[groups[0][0]][0]) and self.slurm is None:
            # one thread a process: fewer populations than processes would leave cores idle or share them by
            # threads, which measured here up to 15x slower than one thread when other work loads the machine
            groups = split_groups(groups, worker_processes(self.n_jobs, cores, sum(map(len, groups))))
        # on Slurm each population has a job's allocation to itself
        processes = 1 if self.slurm is not None else worker_processes(self.n_jobs, cores, max(1, len(groups)))
        for cfg, job in jobs:
            with read_write(cfg.hydra.launcher), open_dict(cfg.hydra.launcher):
                cfg.hydra.launcher.n_jobs = processes  # threads=auto divides the cores by the populations at once
        at_once = self.slurm.array_parallelism if self.slurm is not None else processes
        log.info("%d runs as %d populations (at most %d members each), %d at a time",
                 sum(map(len, groups)), len(groups), max_size, min(at_once, len(groups)))
        population_jobs = [[jobs[i][1] for i in group] for group in groups]
        if self.slurm is not None and population_jobs:
            results = _run_on_slurm(population_jobs, Singleton.get_state(), Path(str(self.config.hydra.sweep.dir)),
                                    self.slurm)
        elif processes == 1:
            results = [_run_population(members) for members in population_jobs]
        else:
            state = Singleton.get_state()
            results = Parallel(n_jobs=processes, backend="loky")(
                delayed(_run_population_in_worker)(members, state) for members in population_jobs)
        outcomes = dict(failures)
        for group, result in zip(groups, results):
            outcomes.update(zip(group, result))
        return [self._job_return(cfg, overrides, outcomes[index])
                for index, ((cfg, _), overrides) in enumerate(zip(jobs, job_overrides))]

    def _job_config(self, number: int, overrides: Sequence[str]) -> DictConfig:
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            cfg.hydra.job.id, cfg.hydra.job.num = f"{cfg.hydra.job.name}_{number}", number
            cfg.hydra.runtime.output_dir = os.path.abspath(os.path.join(str(cfg.hydra.sweep.dir),
                                                                        str(cfg.hydra.sweep.subdir)))
        return cfg

    def _job_return(self, cfg: DictConfig, overrides: Sequence[str], outcome) -> JobReturn:
        from main import outcome as job_outcome
        from tasks.population import _task_config

        failed = isinstance(outcome, BaseException)
        value = outcome if failed else {**job_outcome(outcome), **({"skipped": True} if outcome.get("skipped") else {})}
        ret = JobReturn(overrides=list(overrides), cfg=_task_config(cfg), hydra_cfg=cfg,
                        working_dir=cfg.hydra.runtime.output_dir, task_name=cfg.hydra.job.name,
                        status=JobStatus.FAILED if failed else JobStatus.COMPLETED, _return_value=value)
        self.hydra_context.callbacks.on_job_end(config=cfg, job_return=ret)
        return ret


def _member_job(cfg: DictConfig, overrides: list[str]):
    """(the MemberJob, its population key) of one job; UserError for a bad setting or another task."""
    from tasks.population import MemberJob, _task_config, population_key

    HydraConfig.instance().set_config(cfg)
    task_cfg = _task_config(cfg)
    if task_cfg.task.name != "compress":  # the whole sweep's task: refused before anything runs
        _refuse(f"hydra/launcher=population trains benchmark runs (task=compress), not task={task_cfg.task.name}: "
                "use hydra/launcher=parallel")
    check_settings(task_cfg, overrides, set(cfg.hydra.runtime.choices))
    # tuned=true: the study's hparams, which may change the population; the commit and command, for the report
    summary = {**start_record(task_cfg), **provenance(overrides)}
    with open_dict(cfg):
        cfg.hparams = task_cfg.hparams
    return MemberJob(cfg, summary), population_key(task_cfg)


def _run_population(members):
    from tasks.population import run_population

    Path(members[0].cfg.hydra.runtime.output_dir).mkdir(parents=True, exist_ok=True)
    return run_population(members)


def _run_population_in_worker(members, singleton_state):
    setup_globals()
    Singleton.set_state(singleton_state)
    stop_run_on_signals()
    exit_with_launcher()
    return _run_population(members)


def _run_on_slurm(population_jobs: list, singleton_state, sweep_dir: Path, slurm: DictConfig) -> list:
    """Each population one task of a Slurm job array; per population, its members' outcomes, read from
    their records (JSON) once the job has ended, never from submitit's result pickle: a file read back is
    data. A member a job left unfinished (cancelled, out of time: `running` or `interrupted`) ends with
    an error saying so, and launching the sweep again redoes it."""
    import submitit

    executor = submitit.AutoExecutor(folder=sweep_dir / ".submitit" / "%j", cluster="slurm")
    allocation = {"timeout_min": slurm.timeout_min, "cpus_per_task": slurm.cpus_per_task, "mem_gb": slurm.mem_gb,
                  "gpus_per_node": slurm.gpus_per_node, "slurm_partition": slurm.partition,
                  "slurm_array_parallelism": slurm.array_parallelism}
    executor.update_parameters(name="population", **{k: v for k, v in allocation.items() if v is not None})
    slurm_jobs = executor.map_array(_run_population_in_worker, population_jobs,
                                    [singleton_state] * len(population_jobs))
    log.info("%d populations submitted to Slurm: job array %s", len(slurm_jobs), slurm_jobs[0].job_id.split("_")[0])
    results = []
    for slurm_job, members in zip(slurm_jobs, population_jobs):
        slurm_job.wait()
        results.append([_recorded_outcome(member, slurm_job.job_id) for member in members])
    return results


def _recorded_outcome(member, job_id: str) -> dict | Exception:
    """A member's record once its job has ended, or the error that its record (or its absence) tells."""
    run_dir = run_dir_of(member.cfg.output_root, member.cfg)
    record = read_record(run_dir)
    status = record.get("status") if record else "not recorded"
    if status in FINAL_STATUSES:
        return record
    if status == "failed":
        return RuntimeError(record.get("error", "failed"))
    log.error("population job %s ended before its run %s did (%s); launching the sweep again redoes it",
              job_id, run_dir.name, status)
    return RuntimeError(f"Slurm job {job_id} ended with the run {status}")


def _on_cpu(cfg: DictConfig) -> bool:
    return resolve_device(cfg.device).type == "cpu"


def _refuse(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
