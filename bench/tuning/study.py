"""One tuning study per cell, stored under `OUTPUT_ROOT/studies/<name>/` in Optuna's journal file.

A cell is what a final run compares: method (and its options), ratio, data set, model, recipe,
budget; the study's identity hashes it with the search space and the tuning seed, so every run
of the same cell (any seed) finds the same study, and a changed search space starts a new one.
Trials are ordinary runs (bench/run/resume.py) with `evaluate_test=false`; a trial's value is its
best validation error, or WORST_VALUE when it diverged.

The journal is data: a damaged one (bench/tuning/journal.py), or one whose trials lie outside the
cell's search space, is moved aside (`journal.log.corrupt-<n>`, with a warning) and the study is
rebuilt from the records of its trial runs under OUTPUT_ROOT/runs; without any, it starts anew.
The study keeps its own target (`tune.n_trials` of its latest launch), which final runs check.
"""
from __future__ import annotations

import fcntl
import logging
import time
from pathlib import Path

import optuna
from omegaconf import DictConfig, OmegaConf

from bench.run.settings import parse_ratio
from bench.errors import UserError
from bench.training.hparams import flat, nested
from bench.run.identity import experiment_config
from bench.run.resume import FINAL_STATUSES, RUNS_DIR
from bench.storage.state_files import UnreadableStateFile, quarantine, read_json_object
from bench.tuning.journal import journal_problem
from bench.tuning.search_space import distribution, outside_space, parameters
from bench.storage.digest import json_digest

log = logging.getLogger("bench")

STUDIES_DIR = "studies"
JOURNAL_FILE = "journal.log"
WORST_VALUE = 1.0  # the largest possible error rate: a diverged trial's score
NOT_PART_OF_CELL = ("seed", "hparams", "evaluate_test")
TARGET_ATTR = "n_trials"  # the study's user attribute holding its own target, set by each launch


def trial_cell(experiment: dict) -> dict:
    """A run's experiment config without what differs between the trials of one study."""
    return {k: v for k, v in experiment.items() if k not in NOT_PART_OF_CELL}


def cell_identity(cfg: DictConfig) -> dict:
    """What a study tunes: the experiment without seed and hparams, plus search space and tuning seed."""
    cell = trial_cell(experiment_config(cfg))
    cell["search_space"] = OmegaConf.to_container(cfg.search_space, resolve=True)
    cell["tuning_seed"] = cfg.tune.seed
    return cell


def study_name(cfg: DictConfig) -> str:
    digest = json_digest(cell_identity(cfg), 12)
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


def open_study(cfg: DictConfig, create: bool, lock: "StudyLock") -> optuna.Study | None:
    """The cell's study (None when there is none and not `create`); a journal that is damaged, another
    cell's or outside the search space is moved aside and the study rebuilt from its trial records.
    `lock`: held by the caller on the study (which made its folder); a shared one is made exclusive for a repair."""
    directory, params = study_dir(cfg), parameters(cfg.search_space)
    journal = directory / JOURNAL_FILE
    study, problem = _read_study(directory, params)
    if study is not None or (problem is None and not create):
        return study
    if problem is not None:
        lock.make_exclusive()
        study, problem = _read_study(directory, params)  # another process may have repaired it meanwhile
        if study is not None:
            return study
        if problem is not None:
            quarantine(journal, f"not a usable tuning journal: {problem}")
    trials = trials_from_records(cfg, params)
    if not trials and not create:
        return None
    study = optuna.create_study(study_name=directory.name, storage=storage(directory), direction="minimize")
    study.add_trials(trials)
    if trials:
        log.warning("study %s: rebuilt from the records of its %d finished trial runs under %s", directory.name,
                    len(trials), Path(cfg.output_root) / RUNS_DIR)
    return study


def _read_study(directory: Path, params: dict) -> tuple[optuna.Study | None, str | None]:
    """(the study in the journal, None), (None, why it cannot be used), or (None, None) without a journal."""
    journal = directory / JOURNAL_FILE
    if not journal.exists() or journal.is_file() and journal.stat().st_size == 0:
        return None, None
    problem = journal_problem(journal, directory.name) if journal.is_file() else "not a file"
    if problem is not None:
        return None, problem
    try:
        study = optuna.load_study(study_name=directory.name, storage=storage(directory))
    except Exception as err:  # noqa: BLE001 -- Optuna replaying a crafted journal raises anything
        return None, f"Optuna cannot replay it ({type(err).__name__}: {str(err)[:200]})"
    problem = next(filter(None, (_outside(trial, params) for trial in study.trials)), None)
    return (None, problem) if problem else (study, None)


def _outside(trial: optuna.trial.FrozenTrial, params: dict) -> str | None:
    why = outside_space(trial.params, params, partial=trial.state != optuna.trial.TrialState.COMPLETE)
    return f"trial {trial.number}: {why}" if why else None


def trials_from_records(cfg: DictConfig, params: dict) -> list[optuna.trial.FrozenTrial]:
    """Every finished trial run of the cell found under OUTPUT_ROOT/runs, as a trial of its study."""
    cell, trials = trial_cell(experiment_config(cfg)), []
    for path in sorted(Path(cfg.output_root, RUNS_DIR).glob("*/result.json")):
        try:
            record = read_json_object(path) or {}
        except UnreadableStateFile:
            continue  # the run's own next launch moves it aside and redoes it
        values, value = flat(record.get("hparams") or {}), record.get("val_error")
        diverged = record.get("status") == "diverged"
        if (record.get("status") not in FINAL_STATUSES or record.get("evaluate_test") is not False
                or record.get("seed") != cfg.tune.seed or not isinstance(record.get("config"), dict)
                or trial_cell(record["config"]) != cell or outside_space(values, params)
                or not (diverged or isinstance(value, (int, float)) and 0 <= value <= 1)):
            continue
        trials.append(optuna.trial.create_trial(
            params=values, distributions={name: distribution(params[name]) for name in values},
            value=WORST_VALUE if diverged else value,
            user_attrs={"status": record["status"], "config_hash": record.get("config_hash")}))
    return trials


def best_hparams(cfg: DictConfig, overrides: list[str]) -> tuple[dict, dict]:
    """The cell's tuned hparams (nested) and where they came from; UserError without a finished study,
    or when every trial diverged (there are no hyperparameters worth taking).

    `overrides`: the run's command line, to name the command that would tune its cell.
    """
    name = study_name(cfg)
    with StudyLock(study_dir(cfg), shared=True) as lock:
        study = open_study(cfg, create=False, lock=lock)
    if study is None:
        raise UserError(f"tuned=true: no tuning study for this cell ({name}); tune it first: {tune_command(overrides)}")
    done = finished_trials(study)
    given = any(o.lstrip("+").startswith("tune.n_trials=") for o in overrides)
    target = cfg.tune.n_trials if given or TARGET_ATTR not in study.user_attrs else study.user_attrs[TARGET_ATTR]
    if len(done) < target:
        raise UserError(f"tuned=true: study {name} has {len(done)} finished trials of "
                        f"{f'tune.n_trials={target}' if given else f'its target of {target}'}; "
                        f"finish it first: {tune_command(overrides)}")
    if all(trial.user_attrs.get("status") == "diverged" for trial in done):
        raise UserError(f"tuned=true: every one of the {len(done)} finished trials of study {name} diverged; there "
                        f"are no hyperparameters to take (widen or move the search space and tune again)")
    best = study.best_trial  # the same trial the sweeper reports as best
    source = {"study": name, "storage": str(study_dir(cfg) / JOURNAL_FILE), "trial": best.number,
              "val_error": best.value, "trial_run": best.user_attrs.get("config_hash"),
              "finished_trials": len(done)}
    return nested(best.params), source


class StudyLock:
    """An OS lock on a study's folder: one live sweeper holds it exclusively; final runs reading the
    study share it, and make it exclusive only to repair a damaged journal."""

    WAIT_SECONDS = 30  # how long a repair waits for the readers that share the lock

    def __init__(self, directory: Path, shared: bool = False):
        self.path, self.shared = Path(directory) / "sweeper.lock", shared

    def __enter__(self) -> "StudyLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a")
        try:
            fcntl.flock(self.file, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise UserError(f"tuning study {self.path.parent.name} is being tuned by another live process; "
                            "wait for it, or stop it first") from None
        return self

    def make_exclusive(self) -> None:
        deadline = time.monotonic() + self.WAIT_SECONDS
        while True:
            try:
                fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UserError(f"tuning study {self.path.parent.name} needs repair, but other processes "
                                    f"hold it for more than {self.WAIT_SECONDS} s; try again") from None
                time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self.file.close()
