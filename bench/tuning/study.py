"""One tuning study per cell, stored under `OUTPUT_ROOT/studies/<name>/` in Optuna's journal file.

A cell is what a final run compares: method (and its options), ratio, data set, model, recipe,
budget; the study's identity hashes it with the search space and the tuning seed, so every run
of the same cell (any seed) finds the same study, and a changed search space starts a new one.
Trials are ordinary runs (bench/resume.py) with `evaluate_test=false`; a trial's value is its
best validation error, or WORST_VALUE when it diverged.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import optuna
from omegaconf import DictConfig, OmegaConf

from bench.budget import parse_ratio
from bench.errors import UserError
from bench.hparams import nested
from bench.record import experiment_config

STUDIES_DIR = "studies"
JOURNAL_FILE = "journal.log"
WORST_VALUE = 1.0  # the largest possible error rate: a diverged trial's score
NOT_PART_OF_CELL = ("seed", "hparams", "evaluate_test")


def cell_identity(cfg: DictConfig) -> dict:
    """What a study tunes: the experiment without seed and hparams, plus search space and tuning seed."""
    cell = {k: v for k, v in experiment_config(cfg).items() if k not in NOT_PART_OF_CELL}
    cell["search_space"] = OmegaConf.to_container(cfg.search_space, resolve=True)
    cell["tuning_seed"] = cfg.tune.seed
    return cell


def study_name(cfg: DictConfig) -> str:
    digest = hashlib.sha256(json.dumps(cell_identity(cfg), sort_keys=True).encode()).hexdigest()[:12]
    ratio = str(parse_ratio(cfg.ratio)).replace("/", "_")
    return f"{cfg.method.name}-{cfg.dataset.name}-{cfg.model.name}-r{ratio}-{digest}"


def study_dir(cfg: DictConfig) -> Path:
    return Path(cfg.output_root) / STUDIES_DIR / study_name(cfg)


def storage(directory: Path) -> optuna.storages.JournalStorage:
    backend = optuna.storages.journal.JournalFileBackend(str(directory / JOURNAL_FILE))
    return optuna.storages.JournalStorage(backend)


def tune_command(overrides: list[str]) -> str:
    """The command that tunes the cell of a run launched with `overrides` (seed and tuned left out)."""
    kept = [o for o in overrides if o.split("=")[0].lstrip("+") not in ("seed", "tuned", "rerun", "experiment")]
    return " ".join(["python main.py -m experiment=tune", *kept])


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def best_hparams(cfg: DictConfig, overrides: list[str]) -> tuple[dict, dict]:
    """The cell's tuned hparams (nested) and where they came from; UserError without a finished study.

    `overrides`: the run's command line, to name the command that would tune its cell.
    """
    directory = study_dir(cfg)
    name = directory.name
    if not (directory / JOURNAL_FILE).is_file():
        raise UserError(f"tuned=true: no tuning study for this cell ({name}); tune it first: {tune_command(overrides)}")
    study = optuna.load_study(study_name=name, storage=storage(directory))
    done = finished_trials(study)
    if len(done) < cfg.tune.n_trials:
        raise UserError(f"tuned=true: study {name} has {len(done)} of tune.n_trials={cfg.tune.n_trials} finished "
                        f"trials; finish it first: {tune_command(overrides)}")
    best = study.best_trial  # the same trial the sweeper reports as best
    source = {"study": name, "storage": str(directory / JOURNAL_FILE), "trial": best.number,
              "val_error": best.value, "trial_run": best.user_attrs.get("config_hash"),
              "finished_trials": len(done)}
    return nested(best.params), source
