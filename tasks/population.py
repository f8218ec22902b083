"""A population: the runs of a sweep that share every tensor shape and the schedule, trained in one
process as one stacked model (bench/training/population_trainer.py, layers/stacked.py).

Each member is a run as `tasks/compress.py` runs it: its own run directory claimed (a complete one
is skipped, so a resumed population holds only the missing members), its model built by its method
for its seed, its test evaluated once, its checkpoint exported and its `result.json` written, with a
`population` entry (size, member index, group id, the population's training time). Only the fit is
shared. `train_seconds` of a member is its share of the population's training time.

`population_key` says which runs may share a population: all but the seed and the hyperparameters a
member carries as its own numbers (MEMBER_KEYS) must be equal, and so must the process-wide settings
(device, threads, denormals).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

import layers.stacked
from bench.compression.model_factory import ModelFactory
from bench.machine.device import place_data, resolve_device
from bench.machine.memory import population_memory, training_bytes
from bench.run.identity import experiment_config
from bench.run.resume import RunSlot, claim_run_dir
from bench.training.hparams import with_hparams
from bench.training.population_trainer import PopulationTrainer
from methods.population_fit import fit_population
from tasks.compress import PreparedRun, finish_run, load_run_data, model_options, prepare_run

log = logging.getLogger("bench")

# What members of one population may differ in, besides the seed: numbers the population trainer holds
# per member (bench/training/population_trainer.py). Everything else of the recipe and the method fixes shapes or the schedule.
MEMBER_KEYS = {"train": ("lr", "momentum", "lr_decay", "weight_decay", "dropout_input", "dropout_hidden",
                         "patience", "divergence_factor"),
               "method": ("temperature", "soft_weight", "teacher_cache")}
PROCESS_KEYS = ("device", "threads", "flush_denormal")  # not part of a run's identity, but one per process


def population_key(cfg: DictConfig) -> str:
    """The same string for runs that may train as one population (cfg: a run's config, hparams resolved)."""
    train, method = (OmegaConf.to_container(node, resolve=True) for node in with_hparams(cfg))
    shared = experiment_config(cfg)
    for key in ("seed", "hparams", "model", "evaluate_test"):
        shared.pop(key, None)
    shared["train"] = {k: v for k, v in train.items() if k not in MEMBER_KEYS["train"]}
    shared["method"] = {k: v for k, v in method.items() if k not in MEMBER_KEYS["method"]}
    shared["model"] = {"name": cfg.model.name, **model_options(cfg)}
    shared["process"] = {key: OmegaConf.to_container(cfg, resolve=True).get(key) for key in PROCESS_KEYS}
    return json.dumps(shared, sort_keys=True, default=str)


@dataclass
class MemberJob:
    """One run of a population: its config (with Hydra's node) and its record's summary (bench's start_summary)."""

    cfg: DictConfig
    summary: dict


def _task_config(cfg: DictConfig) -> DictConfig:
    """The run's config as a task sees it: without Hydra's node (which HydraConfig holds)."""
    task_cfg = cfg.copy()
    with open_dict(task_cfg):
        task_cfg.pop("hydra", None)
    return task_cfg


def _end_all(members: list[tuple[int, RunSlot]], error: BaseException, outcomes: list) -> None:
    """End every member's claim not yet ended with the error that ended them all, and make it their outcome."""
    for i, slot in members:
        slot.close(error)
        outcomes[i] = error


def run_population(jobs: list[MemberJob]) -> list[dict | BaseException]:
    """Run the members of one population; per member, its record (or a skipped one's previous record
    marked `skipped`), or the exception that ended it."""
    outcomes: list[dict | BaseException | None] = [None] * len(jobs)
    claimed: list[tuple[int, RunSlot]] = []
    for i, job in enumerate(jobs):
        HydraConfig.instance().set_config(job.cfg)
        slot = claim_run_dir(job.cfg, {**job.summary, "launch_dir": job.cfg.hydra.runtime.output_dir},
                             rerun=job.cfg.rerun)
        if slot.skipped:
            log.info("skipping %s: %s", slot.dir, slot.skip_reason)
            outcomes[i] = {**(slot.previous or {}), "skipped": True}
        else:
            claimed.append((i, slot))
    try:
        if claimed:
            _train([(i, jobs[i], slot) for i, slot in claimed], outcomes)
    except BaseException as err:  # Ctrl-C, SIGTERM or a failed shared fit: members not yet ended end with it
        _end_all(claimed, err, outcomes)
        raise
    return outcomes


def _train(members: list[tuple[int, MemberJob, RunSlot]], outcomes: list) -> None:
    first = _task_config(members[0][1].cfg)
    device = resolve_device(first.device)
    try:  # members share the recipe's input scale (not a member's own number); the test split's when any reads it
        train_cfg = with_hparams(first)[0]
        data = place_data(load_run_data(first, train_cfg, any(job.cfg.evaluate_test for _, job, _ in members)), device)
        size = _size_for_memory(first, train_cfg, data, device, len(members),
                                members[0][1].cfg.hydra.launcher.get("n_jobs", 1))
    except Exception as err:  # e.g. a regression set: every member ends with it, as its single run would
        _end_all([(i, slot) for i, _, slot in members], err, outcomes)
        return
    for start in range(0, len(members), size):
        _train_population(members[start:start + size], data, outcomes)


def _size_for_memory(cfg: DictConfig, train_cfg, data, device, members: int, processes: int) -> int:
    """The most members of one population that fit the memory it may plan for (bench/machine/memory.py),
    each counted as its dense model training: an upper bound for a compressed member."""
    memory = population_memory(device, processes, cfg.population.memory_gb)
    dense = ModelFactory.from_config(cfg, train_cfg, data.input_shape, data.num_classes).build_on_meta()
    fit = members if memory is None else max(1, memory // training_bytes(dense, (int(train_cfg.batch_size),
                                                                                   *data.input_shape)))
    if fit < members:
        log.warning("population of %d members trained as %d populations of at most %d: that many fit in the %.2f GiB "
                    "it may take on %s", members, -(-members // fit), fit, memory / 2**30, device)
    return min(fit, members)


def _train_population(members: list[tuple[int, MemberJob, RunSlot]], data, outcomes: list) -> None:
    first = _task_config(members[0][1].cfg)
    prepared: list[tuple[int, MemberJob, RunSlot, PreparedRun]] = []
    for i, job, slot in members:
        HydraConfig.instance().set_config(job.cfg)
        try:
            prepared.append((i, job, slot, prepare_run(_task_config(job.cfg), slot.dir, slot.start_record, data)))
        except Exception as err:  # this member cannot start (e.g. its budget): recorded failed, the others go on
            slot.close(err)
            outcomes[i] = err
    if not prepared:
        return
    runs = [run for _, _, _, run in prepared]
    group = hashlib.sha256(" ".join(sorted(run.record["config_hash"] for run in runs)).encode()).hexdigest()[:12]
    log.info("population %s: %d members (%s)", group, len(prepared), first.method.name)
    started = time.perf_counter()
    fits = fit_population([run.method for run in runs], [run.model for run in runs],  # shared: its error ends all
                          PopulationTrainer([run.trainer for run in runs], layers.stacked), data)
    seconds = time.perf_counter() - started
    for position, ((i, job, slot, run), fit) in enumerate(zip(prepared, fits)):
        HydraConfig.instance().set_config(job.cfg)
        run.record["population"] = {"size": len(prepared), "member": position, "group": group,
                                    "train_seconds": round(seconds, 3)}
        try:
            outcomes[i] = finish_run(run, fit, seconds / len(prepared))
        except Exception as err:
            slot.close(err)
            outcomes[i] = err
        else:
            slot.close()


def split_groups(groups: list[list[int]], at_least: int) -> list[list[int]]:
    """`groups` with the largest halved until there are `at_least` of them (or every one has one job), so that
    every process of a CPU sweep has a population of its own."""
    groups = [list(group) for group in groups]
    while len(groups) < at_least and max(map(len, groups)) > 1:
        largest = max(range(len(groups)), key=lambda i: len(groups[i]))
        group = groups.pop(largest)
        groups[largest:largest] = [group[:len(group) // 2], group[len(group) // 2:]]
    return groups


def group_jobs(keys: list[str | None], max_size: int) -> list[list[int]]:
    """Job indices grouped by key (None: a job that cannot join any), in order of first appearance,
    each group split into populations of at most `max_size`."""
    by_key: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        if key is not None:
            by_key.setdefault(key, []).append(index)
    return [indices[first:first + max_size] for indices in by_key.values()
            for first in range(0, len(indices), max_size)]

