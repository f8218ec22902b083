"""`hydra/launcher=population`: which runs share a population, and a sweep run, resumed and refused."""
import json

import pytest
from omegaconf import open_dict

from bench.compression.checkpoint import load_compressed
from bench.run.resume import run_dir_of
from bench.training.evaluate import error_rate
from conftest import compose_config, result_records, run_main
from datasets.centering import center_inputs
from datasets.mnist5k import load_mnist5k
from tasks.population import group_jobs, population_key, split_groups


def key(*overrides):
    cfg = compose_config("dataset=mnist5k_tiny", *overrides)
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return population_key(cfg)


@pytest.mark.parametrize("members", [
    ["seed=1", "seed=2"],
    ["train.lr=0.1", "train.lr=0.01", "+hparams.train.lr=0.03"],
    ["train.dropout_hidden=0", "+hparams.train.dropout_input=0.3", "train.lr_decay=0.9", "train.patience=3"],
    ["method=dk", "method=dk method.temperature=2", "method=dk +hparams.method.soft_weight=0.5"],
])
def test_runs_differing_in_seed_or_member_hyperparameters_share_a_population(members):
    assert len({key(*member.split()) for member in members}) == 1


@pytest.mark.parametrize("members", [
    ["ratio=1/8", "ratio=1/64"],
    ["method=hashednets", "method=rer"],
    ["train.batch_size=50", "train.batch_size=25"],
    ["train.epochs=3", "train.epochs=4"],
    ["model.hidden=[100]", "model.hidden=[200]"],
    ["method=pruning", "method=pruning method.rounds=2", "method=pruning +hparams.method.retrain_epochs=5"],
    ["device=cpu", "threads=1"],
])
def test_runs_differing_in_shapes_or_schedule_do_not(members):
    keys = [key(*member.split()) for member in members]
    assert len(set(keys)) == len(keys)


def test_groups_are_split_at_the_largest_size_and_bad_jobs_left_out():
    assert group_jobs(["a", "b", None, "a", "a", "b"], max_size=2) == [[0, 3], [4], [1, 5]]


def test_on_the_cpu_populations_are_split_until_every_process_has_one():
    assert split_groups([[0, 1, 2, 3, 4], [5, 6]], at_least=2) == [[0, 1, 2, 3, 4], [5, 6]]
    assert split_groups([[0, 1, 2, 3, 4]], at_least=2) == [[0, 1], [2, 3, 4]]
    assert split_groups([[0, 1, 2], [3]], at_least=4) == [[0], [1], [2], [3]]
    assert split_groups([[0], [1]], at_least=4) == [[0], [1]]


def test_a_sweep_trains_as_populations_and_resumes_only_its_unfinished_members(tmp_path):
    args = ["-m", "method=hashednets,rer", "ratio=1/8", "seed=1,2", "dataset=mnist5k_tiny", "train.epochs=2",
            "logger=none", "hydra/launcher=population", "hydra.launcher.n_jobs=1"]
    run_main(*args, output_root=tmp_path)
    records = result_records(tmp_path)
    assert sorted((r["method"], r["seed"], r["status"]) for r in records) == \
        [("hashednets", 1, "complete"), ("hashednets", 2, "complete"), ("rer", 1, "complete"), ("rer", 2, "complete")]
    groups = {r["method"]: r["population"]["group"] for r in records}
    assert len(set(groups.values())) == 2
    assert all(r["population"]["size"] == 2 and r["test_error"] is not None for r in records)
    assert sorted(r["population"]["member"] for r in records if r["method"] == "rer") == [0, 1]
    # members train on the recipe's input scale as a run alone does; each checkpoint takes the data set's own inputs
    data = load_mnist5k(train_per_class=30, val_per_class=10, test_per_class=10)
    checkpoints = sorted(tmp_path.glob("runs/*/model.pt"))
    assert len(checkpoints) == 4
    for path in checkpoints:
        record = json.loads((path.parent / "result.json").read_text())
        assert record["dataset_notes"]["input_mean"] == center_inputs(data).notes["input_mean"]
        assert error_rate(load_compressed(path), data.test_x, data.test_y) == record["test_error"]
    # a killed population left one member running: the next launch trains it alone and skips the others
    killed = next(p for p in sorted(tmp_path.glob("runs/*/result.json")) if json.loads(p.read_text())["seed"] == 2)
    record = json.loads(killed.read_text())
    killed.write_text(json.dumps({**record, "status": "running"}))
    others = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/result.json") if p != killed}
    run_main(*args, output_root=tmp_path)
    assert {p: p.stat().st_mtime_ns for p in others} == others
    redone = json.loads(killed.read_text())
    assert redone["status"] == "complete" and redone["population"]["size"] == 1
    assert (killed.parent / "attempts" / "1" / "result.json").exists()


def test_a_bad_population_size_is_one_error_line(tmp_path):
    done = run_main("-m", "dataset=mnist5k_tiny", "seed=1,2", "logger=none", "hydra/launcher=population",
                    "population.max_size=0", output_root=tmp_path, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        "error: population.max_size=0 must be a positive integer (the most runs in one population)"


def test_a_tuning_study_trains_its_parallel_trials_as_one_population(tmp_path):
    run_main("-m", "experiment=tune", "method=rer", "ratio=1/8", "dataset=mnist5k_tiny", "train.epochs=2", "logger=none",
             "tune.n_trials=3", "tune.parallel_trials=3", "tune.startup_trials=3", "hydra/launcher=population", "hydra.launcher.n_jobs=1",
             output_root=tmp_path)
    records = result_records(tmp_path)
    assert len(records) == 3 and all(r["status"] == "complete" and r["test_error"] is None for r in records)
    assert {r["population"]["group"] for r in records} == {records[0]["population"]["group"]}
    assert len({r["hparams"]["train"]["lr"] for r in records}) == 3  # trials with their own hyperparameters


@pytest.mark.parametrize("record, outcome", [
    ({"status": "complete", "test_error": 0.1}, {"status": "complete", "test_error": 0.1}),
    ({"status": "failed", "error": "ValueError: budget too small"}, "ValueError: budget too small"),
    ({"status": "interrupted"}, "ended with the run interrupted"),
    (None, "ended with the run not recorded"),
])
def test_a_slurm_population_member_s_outcome_is_read_from_its_record(tmp_path, record, outcome):
    from hydra_plugins.population_launcher.population_launcher import _recorded_outcome
    from tasks.population import MemberJob

    member = MemberJob(compose_config("dataset=mnist5k_tiny", f"output_root={tmp_path}"), {})
    if record is not None:
        run_dir = run_dir_of(tmp_path, member.cfg)
        run_dir.mkdir(parents=True)
        (run_dir / "result.json").write_text(json.dumps(record))
    found = _recorded_outcome(member, "123_0")
    if isinstance(outcome, dict):
        assert found == outcome
    else:
        assert isinstance(found, RuntimeError) and outcome in str(found)
