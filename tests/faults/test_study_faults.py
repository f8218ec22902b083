"""Tuning studies under faults: a damaged journal is moved aside and the study rebuilt from its trials'
records; bad tune settings are one error line; a study whose every trial diverged gives no winner."""
from __future__ import annotations

import random

import optuna
import pytest

from bench.tuning.study import JOURNAL_FILE, finished_trials, storage, study_dir, study_name
from conftest import compose_config, result_records, run_main

CELL = ["method=lowrank", "ratio=1/64", "dataset=mnist5k_tiny", "train.epochs=1", "model.hidden=[16]", "logger=none"]


def tune(tmp_path, *overrides, check=True):
    return run_main("-m", "experiment=tune", *CELL, *overrides, output_root=tmp_path, check=check)


def journal_of(tmp_path, *overrides):
    return study_dir(compose_config(*CELL, f"output_root={tmp_path}", *overrides)) / JOURNAL_FILE


def load(tmp_path, *overrides) -> optuna.Study:
    cfg = compose_config(*CELL, f"output_root={tmp_path}", *overrides)
    return optuna.load_study(study_name=study_name(cfg), storage=storage(study_dir(cfg)))


def cut_short(path):
    data = path.read_bytes()
    path.write_bytes(data[:-25])  # a write interrupted part way through the last entry


def another_cells_journal(tmp_path, path):
    other = tmp_path / "other"
    tune(other, "ratio=1/8", "tune.n_trials=1")
    path.write_bytes(journal_of(other, "ratio=1/8").read_bytes())


DAMAGE = {
    "cut short": lambda tmp_path, path: cut_short(path),
    "random bytes": lambda tmp_path, path: path.write_bytes(random.Random(0).randbytes(3000)),
    "another cell's journal": another_cells_journal,
    "a 5,000-digit number": lambda tmp_path, path: path.write_text(f'{{"op_code": {"9" * 5000}}}\n'),
    "a folder": lambda tmp_path, path: (path.unlink(), path.mkdir()),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_journal_is_moved_aside_and_the_study_rebuilt_from_its_trial_runs(tmp_path, kind):
    tune(tmp_path, "tune.n_trials=2")
    journal = journal_of(tmp_path)
    before = {t.user_attrs["config_hash"]: t.value for t in finished_trials(load(tmp_path))}
    DAMAGE[kind](tmp_path, journal)
    damaged = journal.read_bytes() if journal.is_file() else None

    again = tune(tmp_path, "tune.n_trials=3")  # resumes: the two trials read back from their records, one more run
    assert "not a usable tuning journal" in again.stdout + again.stderr and "Traceback" not in again.stderr
    kept = journal.parent / f"{JOURNAL_FILE}.corrupt-1"  # kept, never deleted
    assert kept.is_dir() if damaged is None else kept.read_bytes() == damaged
    study = load(tmp_path)
    rebuilt = {t.user_attrs["config_hash"]: t.value for t in finished_trials(study)}
    assert len(rebuilt) == 3 and all(rebuilt[h] == v for h, v in before.items())
    trials = [r for r in result_records(tmp_path / "runs") if not r["evaluate_test"]]
    assert len(trials) == 3  # the first two were not trained again

    final = run_main(*CELL, "tuned=true", "seed=1", output_root=tmp_path)  # and the finals read it
    assert "Traceback" not in final.stderr


def test_an_empty_journal_is_a_study_not_yet_started(tmp_path):
    journal = journal_of(tmp_path)
    journal.parent.mkdir(parents=True)
    journal.touch()
    final = run_main(*CELL, "tuned=true", output_root=tmp_path, check=False)
    assert final.returncode == 2 and final.stderr.strip().splitlines()[-1].startswith(
        "error: tuned=true: no tuning study for this cell")
    tune(tmp_path, "tune.n_trials=1")
    assert len(finished_trials(load(tmp_path))) == 1


def test_a_study_whose_every_trial_diverged_gives_no_hyperparameters(tmp_path):
    diverging = ["search_space.train.lr.low=50", "search_space.train.lr.high=100"]
    tune(tmp_path, "tune.n_trials=2", *diverging)
    assert all(r["status"] == "diverged" for r in result_records(tmp_path / "runs"))
    final = run_main(*CELL, "tuned=true", *diverging, output_root=tmp_path, check=False)
    assert final.returncode == 2
    [line] = final.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: tuned=true: every one of the 2 finished trials of study") and "diverged" in line
    assert not [r for r in result_records(tmp_path / "runs") if r["evaluate_test"]]  # no final run was claimed


BAD_TUNE_SETTINGS = {
    "tune.n_trials=0": "error: tune.n_trials=0 must be a positive integer",
    "tune.n_trials=-1": "error: tune.n_trials=-1 must be a positive integer",
    "tune.n_trials=abc": "error: tune.n_trials='abc' must be a positive integer",
    "tune.n_trials=1.5": "error: tune.n_trials=1.5 must be a positive integer",
    "tune.parallel_trials=0": "error: tune.parallel_trials=0 must be a positive integer",
    "tune.seed=-1": "error: tune.seed=-1 must be an integer in [0, 4294967295]",
    "search_space.train.lr.low=abc": "error: search_space.train.lr: {'type': 'float', 'low': 'abc'",
    "search_space.train.lr.low=-1": "error: search_space.train.lr: {'type': 'float', 'low': -1",
}


@pytest.mark.parametrize("setting", BAD_TUNE_SETTINGS)
def test_a_bad_tune_setting_under_the_sweeper_is_one_error_line(tmp_path, setting):
    done = tune(tmp_path, setting, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(BAD_TUNE_SETTINGS[setting])
    assert not (tmp_path / "runs").exists()


def test_experiment_tune_without_multirun_is_refused_before_any_run(tmp_path):
    done = run_main("experiment=tune", *CELL, output_root=tmp_path, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: experiment=tune runs tuning studies, which is a multirun: add -m (python "
                                   "main.py -m experiment=tune ...); without it, this would be one ordinary run that "
                                   "reads the test set")
    assert not (tmp_path / "runs").exists()  # nothing claimed, the test set never read


def test_a_studies_folder_that_is_a_file_is_one_error_line(tmp_path):
    (tmp_path / "studies").write_text("not a folder")
    done = tune(tmp_path, "tune.n_trials=1", check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: file system error on {tmp_path / 'studies'}")
