"""Tuning studies on validation data: resumable, parallel through a launcher, final runs take the winners."""

import optuna
from omegaconf import OmegaConf
import pytest

from bench.errors import UserError
from bench.tuning.search_space import hparam_overrides, parameters
from bench.tuning.study import WORST_VALUE, finished_trials, storage, study_dir, study_name
from conftest import compose_config, result_records, run_main

CELL = ["method=lowrank", "ratio=1/64", "dataset=mnist5k_tiny", "train.epochs=2", "model.hidden=[64]", "logger=none"]


def tune(tmp_path, *overrides, check=True):
    return run_main("-m", "experiment=tune", *CELL, *overrides, output_root=tmp_path, check=check)


def open_study(tmp_path, *overrides) -> optuna.Study:
    cfg = compose_config(*CELL, f"output_root={tmp_path}", *overrides)
    return optuna.load_study(study_name=study_name(cfg), storage=storage(study_dir(cfg)))


def trial_records(tmp_path):
    return [r for r in result_records(tmp_path / "runs") if not r["evaluate_test"]]


def test_a_study_tunes_on_validation_only_in_parallel_and_resumes(tmp_path):
    tune(tmp_path, "tune.n_trials=3", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2")
    study = open_study(tmp_path)
    assert len(finished_trials(study)) == 3
    trials = trial_records(tmp_path)
    assert len(trials) == 3 and all(r["test_error"] is None and r["seed"] == 0 for r in trials)  # test never read
    by_hash = {r["config_hash"]: r for r in trials}
    for trial in finished_trials(study):  # each trial is an ordinary run whose value is its validation error
        run = by_hash[trial.user_attrs["config_hash"]]
        assert trial.value == run["val_error"]
        assert run["hparams"]["train"] == {k.split(".")[1]: v for k, v in trial.params.items()}
    started = {r["config_hash"]: r["started"] for r in trials}

    tune(tmp_path, "tune.n_trials=5")  # resumed: two more trials, the first three not trained again
    assert len(finished_trials(open_study(tmp_path))) == 5
    trials = trial_records(tmp_path)
    assert len(trials) == 5 and all(started[h] == r["started"] for h, r in started.items() for r in [
        next(t for t in trials if t["config_hash"] == h)])


def test_trials_left_running_by_a_killed_sweep_are_asked_again(tmp_path):
    tune(tmp_path, "tune.n_trials=1")
    study = open_study(tmp_path)
    interrupted = study.ask()  # as if the sweeper died while this trial's run trained
    interrupted.suggest_float("train.lr", 0.003, 0.3, log=True)
    done = tune(tmp_path, "tune.n_trials=2")
    assert "was interrupted; its values are tried again" in done.stderr + done.stdout
    study = open_study(tmp_path)
    assert study.trials[interrupted.number].state == optuna.trial.TrialState.FAIL
    assert [t.params["train.lr"] for t in finished_trials(study)][-1] == interrupted.params["train.lr"]


def test_diverged_trials_score_the_worst_value(tmp_path):
    tune(tmp_path, "tune.n_trials=2", "search_space.train.lr.low=100", "search_space.train.lr.high=200",
         "method=rer")
    trials = trial_records(tmp_path)
    assert [r["status"] for r in trials] == ["diverged", "diverged"]
    study = open_study(tmp_path, "method=rer", "search_space.train.lr.low=100", "search_space.train.lr.high=200")
    assert [t.value for t in finished_trials(study)] == [WORST_VALUE, WORST_VALUE]


def test_final_runs_use_the_winners_and_say_where_they_came_from(tmp_path):
    missing = run_main(*CELL, "tuned=true", "tune.n_trials=2", output_root=tmp_path, check=False)
    assert missing.returncode == 2
    [line] = missing.stderr.strip().splitlines()
    assert line.startswith("error: tuned=true: no tuning study") and \
        "python main.py -m experiment=tune method=lowrank ratio=1/64 dataset=mnist5k_tiny" in line
    tune(tmp_path, "tune.n_trials=2")
    short = run_main(*CELL, "tuned=true", "tune.n_trials=3", output_root=tmp_path, check=False)
    assert short.returncode == 2 and "has 2 finished trials of tune.n_trials=3" in short.stderr
    run_main("-m", *CELL, "tuned=true", "seed=1,2", output_root=tmp_path)  # the study's own target: 2
    best = open_study(tmp_path).best_trial
    finals = [r for r in result_records(tmp_path / "runs") if r["evaluate_test"]]
    assert sorted(r["seed"] for r in finals) == [1, 2]
    for final in finals:
        assert final["status"] == "complete" and final["test_error"] is not None
        assert final["hparams"] == {"train": {k.split(".")[1]: v for k, v in best.params.items()}}
        source = final["hparams_source"]
        assert (source["trial"], source["val_error"], source["finished_trials"]) == (best.number, best.value, 2)
        assert final["config"]["train"]["lr"] == 0.1  # the shared recipe is unchanged; hparams deviate from it


def test_the_study_is_the_cell_seed_and_hparams_are_not_part_of_it(tmp_path):
    name = lambda *o: study_name(compose_config(*CELL, *o))  # noqa: E731
    assert name("seed=1") == name("seed=7") == name("+hparams.train.lr=0.3") == name("tune.n_trials=50")
    assert len({name(), name("ratio=1/8"), name("dataset=mnist5k"), name("model=mlp5"), name("tune.seed=1"),
                name("search_space.train.lr.high=1.0"), name("train.momentum=0.5")}) == 7


def test_every_method_declares_a_valid_search_space():
    for method in ("dense", "nn", "hashednets", "hashednets_dk", "dk", "lowrank", "rer", "pruning", "sketch"):
        params = parameters(compose_config(f"method={method}").search_space)
        assert {"train.lr", "train.lr_decay", "train.dropout_input", "train.dropout_hidden"} <= set(params)
        assert params["train.lr"]["log"]
    assert {"method.temperature", "method.soft_weight"} <= set(parameters(compose_config("method=dk").search_space))
    assert "method.retrain_epochs" in parameters(compose_config("method=pruning").search_space)


@pytest.mark.parametrize("space, message", [
    ({"train": {"lr": {"type": "gaussian"}}}, "type='gaussian': allowed: float, int, categorical"),
    ({"train": {"lr": {"type": "float", "low": 1, "high": 0.1}}}, "not a valid float range"),
    ({"optimizer": {"lr": {"type": "float", "low": 0.1, "high": 1}}}, "search_space.optimizer: unknown"),
    ({}, "nothing to tune"),
])
def test_bad_search_spaces_are_one_clear_error(space, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parameters(OmegaConf.create(space))


def test_trial_values_become_hparams_overrides():
    assert hparam_overrides({"train.lr": 0.1, "method.scope": "global", "method.rounds": 2}) == [
        "++hparams.train.lr=0.1", "++hparams.method.scope=global", "++hparams.method.rounds=2"]


def test_hparams_must_name_existing_keys(tmp_path):
    done = run_main(*CELL, "+hparams.train.learning_rate=0.1", output_root=tmp_path, check=False)
    assert done.returncode == 2 and "error: hparams.train.learning_rate: no such key in train" in done.stderr


def test_a_bad_search_space_or_a_cell_that_cannot_run_ends_the_sweep_with_one_line(tmp_path):
    bad = tune(tmp_path, "search_space.train.lr.type=gauss", check=False)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: search_space.train.lr.type='gauss': allowed: float, int, categorical"]
    too_small = tune(tmp_path, "method=nn", "tune.n_trials=2", check=False)  # one hidden unit costs more than 1/64
    assert too_small.returncode == 2
    assert too_small.stderr.strip().splitlines()[-1].startswith("error: tuning study nn-mnist5k_tiny-mlp3-r1_64-")
    assert "every trial failed" in too_small.stderr and "method=nn cannot fit even one unit per hidden layer" in too_small.stderr
