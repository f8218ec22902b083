"""`hydra/sweeper=tune` (set by `experiment=tune`): one Optuna study per cell of the sweep.

    python main.py -m experiment=tune method=lowrank ratio=1/64 dataset=mnist5k
    python main.py -m experiment=tune method=nn,lowrank ratio=1/8,1/64 hydra/launcher=parallel

The command line's sweep lists span cells (as Hydra's basic sweeper would); each cell gets a
study (bench/tuning/study.py). Trials are asked `tune.parallel_trials` at a time from TPE
(constant liar, so parallel trials spread out) and launched through the configured launcher as
ordinary runs with the trial's hparams, the tuning seed and `evaluate_test=false`. A resumed
study counts its finished trials and runs only the missing ones; trials a killed sweep left
running are asked again first (their runs, if complete, are read back, not retrained).
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, List

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from bench.errors import UserError
from bench.storage.files import file_system_problem, write_json_atomically
from bench.launch.progress import show_trials, study_progress
from bench.run.setting_checks import check_settings
from bench.tuning.search_space import hparam_overrides, parameters, suggest
from bench.tuning.study import (TARGET_ATTR, WORST_VALUE, StudyLock, cell_identity, finished_trials, open_study,
                                study_dir)

log = logging.getLogger("bench")
TrialState = optuna.trial.TrialState


class TuneSweeper(Sweeper):
    def __init__(self, params: dict | None = None):
        self.params = params or {}  # sweep lists a preset may set, as in Hydra's basic sweeper
        self.job_index = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        cells = BasicSweeper.split_arguments(overrides, None)[0]
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        try:
            return [self.tune_cell(cell) for cell in cells]
        except (UserError, OSError) as err:  # e.g. a bad search space: one line and exit 2, as main.py does for a run
            print(f"error: {err if isinstance(err, UserError) else file_system_problem(err)}", file=sys.stderr)
            sys.exit(2)

    def tune_cell(self, cell: list[str]) -> dict:
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(cell))
        # the settings a run checks, here before the sweeper uses tune.* or the trials start
        check_settings(cfg, list(cell), set(cfg.hydra.runtime.choices))
        params = parameters(cfg.search_space)
        directory = study_dir(cfg)
        with StudyLock(directory) as lock:  # makes the study's folder
            study = open_study(cfg, create=True, lock=lock)
            study.set_user_attr(TARGET_ATTR, cfg.tune.n_trials)  # final runs check the study against it
            # seeded by the tuning seed and the trials so far: a resumed study does not replay its first draws
            study.sampler = optuna.samplers.TPESampler(seed=cfg.tune.seed * 1_000_003 + len(study.trials),
                                                       constant_liar=True, n_startup_trials=cfg.tune.startup_trials)
            _describe(directory, cfg)
            _requeue_interrupted(study)
            started, earlier = time.perf_counter(), study.user_attrs.get("wall_seconds", 0.0)
            bar = study_progress(directory.name, cfg.tune.n_trials, len(finished_trials(study)))
            while len(finished_trials(study)) < cfg.tune.n_trials:
                self._run_batch(study, cfg, cell, params)
                show_trials(bar, len(finished_trials(study)), _best_value(study))
                # after every batch, so that the time of a study killed part way is kept too
                study.set_user_attr("wall_seconds", round(earlier + time.perf_counter() - started, 1))
            if bar is not None:
                bar.close()
        best = study.best_trial
        summary = {"study": directory.name, "finished_trials": len(finished_trials(study)),
                   "best_trial": best.number, "best_val_error": best.value, "best_params": best.params,
                   "diverged_trials": sum(t.user_attrs.get("status") == "diverged" for t in study.trials),
                   "wall_seconds": study.user_attrs.get("wall_seconds", 0.0)}
        write_json_atomically(directory / "summary.json", summary)
        log.info("study %s: best validation error %.4f (trial %d) with %s; %d finished trials, %.0f s",
                 directory.name, best.value, best.number, best.params, summary["finished_trials"],
                 summary["wall_seconds"])
        return summary

    def _run_batch(self, study: optuna.Study, cfg: DictConfig, cell: list[str], params: dict) -> None:
        size = min(cfg.tune.parallel_trials, cfg.tune.n_trials - len(finished_trials(study)))
        trials = [study.ask() for _ in range(size)]
        batch = [list(cell) + [f"seed={cfg.tune.seed}", "evaluate_test=false"]
                 + hparam_overrides(suggest(trial, params)) for trial in trials]
        returns = self.launcher.launch(batch, initial_job_idx=self.job_index)
        self.job_index += len(batch)
        failures = []
        for trial, job in zip(trials, returns):
            try:
                outcome = job.return_value  # raises the job's exception if it failed
            except Exception as err:
                outcome = {"status": "failed", "error": str(err)}
            if not outcome or outcome.get("status") not in ("complete", "diverged"):
                failures.append(str(outcome))
                study.tell(trial, state=TrialState.FAIL)
                continue
            trial.set_user_attr("status", outcome["status"])
            trial.set_user_attr("config_hash", outcome["config_hash"])
            study.tell(trial, WORST_VALUE if outcome["status"] == "diverged" else outcome["val_error"])
        if len(failures) == len(trials) and not finished_trials(study):
            raise UserError(f"tuning study {study.study_name}: every trial failed; the first: {failures[0]}")


def _best_value(study: optuna.Study) -> float | None:
    return study.best_value if finished_trials(study) else None


def _describe(directory: Path, cfg: DictConfig) -> None:
    """The cell and search space in plain JSON beside the journal, for people and reports."""
    path = directory / "cell.json"
    if not path.exists():
        write_json_atomically(path, cell_identity(cfg))


def _requeue_interrupted(study: optuna.Study) -> None:
    """Trials left running by a killed sweep: fail them and ask their values again first."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.enqueue_trial(trial.params, skip_if_exists=False)
        study.tell(trial.number, state=TrialState.FAIL)
        log.warning("study %s: trial %d was interrupted; its values are tried again", study.study_name, trial.number)
