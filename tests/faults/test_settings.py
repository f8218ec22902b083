"""Bad settings end with one `error:` line naming the key, the value and what is allowed, exit 2,
before any data is loaded or any run directory claimed."""
import os
import runpy
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from bench.errors import UserError
from bench.run.setting_checks import check_settings
from conftest import REPO, compose_config, result_records, run_main

FAST = ["dataset=mnist5k_tiny", "train.epochs=1", "logger=none"]

BAD_SETTINGS = [
    (["seed=abc"], "seed='abc' must be an integer in [0, 4294967295]"),
    (["seed=1.5"], "seed=1.5 must be an integer in [0, 4294967295]"),
    (["train.epochs=abc"], "train.epochs='abc' must be a positive integer"),
    (["train.epochs=0"], "train.epochs=0 must be a positive integer"),
    (["train.epochs=-1"], "train.epochs=-1 must be a positive integer"),
    (["train.batch_size=0"], "train.batch_size=0 must be a positive integer"),
    (["train.patience=0"], "train.patience=0 must be a positive integer"),
    (["train.lr=-1"], "train.lr=-1 must be a number > 0"),
    (["train.momentum=1"], "train.momentum=1 must be a number in [0, 1)"),
    (["train.lr_decay=0"], "train.lr_decay=0 must be a number in (0, 1]"),
    (["train.weight_decay=-0.1"], "train.weight_decay=-0.1 must be a number >= 0"),
    (["train.dropout_input=1.5"], "train.dropout_input=1.5 must be a number in [0, 1)"),
    (["train.dropout_hidden=-0.1"], "train.dropout_hidden=-0.1 must be a number in [0, 1)"),
    (["train.divergence_factor=0.5"], "train.divergence_factor=0.5 must be a number >= 1"),
    (["+hparams.train.lr=-1"], "hparams.train.lr=-1 must be a number > 0"),
    (["+hparams.train.learning_rate=0.1"], "hparams.train.learning_rate: no such key in train"),
    (["+hparams.method.bogus=1"], "hparams.method.bogus: no such key in method"),
    (["+train.epoch=5"], "unknown setting 'train.epoch'; did you mean train.epochs?"),
    (["train.epoch=5"], "unknown setting 'train.epoch'; did you mean train.epochs?"),
    (["++train.epoch=5"], "unknown setting 'train.epoch'; did you mean train.epochs?"),
    (["+train.epochs=5"], "'train.epochs' is a known setting: set it without '+', e.g. train.epochs=5"),
    (["ratoi=1/8"], "unknown setting 'ratoi'; did you mean ratio?"),
    (["+seeds=2"], "unknown setting 'seeds'; did you mean seed?"),
    (["output_root="], "output_root='' must be a non-empty path"),
    (["model.hidden=[0]"], "model.hidden=[0] must be a list of positive integers"),
    (["model=lenet5", "+model.width=0"], "model.width=0 must be a number > 0"),
    ([f"data_root={REPO / 'main.py'}"], "is a file; it must be a directory"),
    (["tune.n_trials=0"], "tune.n_trials=0 must be a positive integer"),
    (["tune.seed=-1"], "tune.seed=-1 must be an integer in [0, 4294967295]"),
    (["tune.parallel_trials=0"], "tune.parallel_trials=0 must be a positive integer"),
    (["tune.startup_trials=x"], "tune.startup_trials='x' must be an integer >= 0"),
    (["evaluate_test=maybe"], "evaluate_test='maybe' must be true or false"),
    (["rerun=2"], "rerun=2 must be true or false"),
    (["tuned=yes"], "tuned='yes' must be true or false"),
    # settings are checked before the data: not the missing full MNIST, the epochs are reported
    (["dataset=mnist", "dataset.strict=true", "train.epochs=0"], "train.epochs=0 must be a positive integer"),
    # those that passed before the settings were checked in one place, kept passing
    (["ratio=0"], "ratio='0' is outside (0, 1]"),
    (["ratio=2"], "ratio='2' is outside (0, 1]"),
    (["ratio=abc"], "ratio='abc' is not a number"),
    (["budget.unit=kb"], "budget.unit='kb' is not one of params, bytes"),
    (["method=nope"], "method='nope' is unknown; allowed: dense,"),
    (["dataset=nope"], "dataset='nope' is unknown; allowed: basic,"),
    (["model=nope"], "model='nope' is unknown; allowed: lenet5,"),
    (["device=tpu"], "device='tpu' is unknown; allowed: auto, cpu"),
    # Hydra's own options and override grammar: one line, not Hydra's several
    (["hydra/launcher=parallel", "hydra.launcher.n_jobs=abc"],
     "hydra.launcher.n_jobs=abc: Value 'abc' of type 'str' could not be converted to Integer"),
    (["hydra.job.chdir=maybe"], "hydra.job.chdir=maybe: Value 'maybe' is not a valid bool"),
    (["train.epochs=[1"], "cannot read the override 'train.epochs=[1'"),
    (["hydra.run.dir=/proc/forbidden"], "cannot write /proc: "),
    (["seed=99999999999999999999"], "seed=99999999999999999999 must be an integer in [0, 4294967295]"),
    (["train.lr=1e308"], "train.lr=1e+308 must be a number > 0 no larger than 3.403e+38 (float32's largest"),
    (["logger=wandb", "logger.init_timeout=-1"], "logger.init_timeout=-1 must be a number > 0"),
]


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """`python main.py ARGV` in this process (fast: no interpreter start): (exit status, stderr)."""
    saved = sys.argv
    sys.argv = ["main.py", *argv]
    try:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(str(REPO / "main.py"), run_name="__main__")
    finally:
        sys.argv = saved
        GlobalHydra.instance().clear()
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize("overrides, expected", BAD_SETTINGS, ids=[" ".join(args) for args, _ in BAD_SETTINGS])
def test_a_bad_setting_is_one_error_line_and_nothing_runs(tmp_path, capsys, overrides, expected):
    status, stderr = run_cli([*FAST, f"output_root={tmp_path}", *overrides], capsys)
    lines = stderr.strip().splitlines()
    assert status == 2
    assert lines[-1].startswith("error: ") and expected in lines[-1]
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]] and "Traceback" not in stderr
    assert not (tmp_path / "runs").exists()  # no run directory claimed


@pytest.mark.parametrize("overrides, expected", [
    (["seed=abc"], "error: seed='abc' must be an integer in [0, 4294967295]"),
    (["train.epoch=5"], "error: unknown setting 'train.epoch'; did you mean train.epochs?"),
    (["+train.epoch=5"], "error: unknown setting 'train.epoch'; did you mean train.epochs?"),
])
def test_a_bad_setting_ends_the_process_without_a_traceback(tmp_path, overrides, expected):
    done = run_main(*FAST, *overrides, output_root=tmp_path, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == expected
    assert "Traceback" not in done.stderr
    assert result_records(tmp_path) == []


def test_in_a_sweep_a_bad_job_fails_and_the_others_run(tmp_path):
    done = run_main("-m", *FAST, "seed=abc,1", output_root=tmp_path, check=False)
    assert "error: seed='abc' must be an integer in [0, 4294967295]" in done.stderr
    assert [(r["seed"], r["status"]) for r in result_records(tmp_path)] == [(1, "complete")]


SHIPPED = ([[f"experiment={p.stem}"] for p in sorted((REPO / "conf/experiment").glob("*.yaml"))]
           + [[f"model={p.stem}"] for p in sorted((REPO / "conf/model").glob("*.yaml"))]
           + [["+hparams.train.lr=0.03", "+hparams.method.hash_bias=false"]])


@pytest.mark.parametrize("overrides", SHIPPED, ids=" ".join)
def test_the_shipped_configs_pass_the_checks(overrides):
    cfg = compose_config(*overrides)
    check_settings(cfg, overrides, {"experiment", "model", "method", "dataset"})


def test_a_key_added_inside_the_job_is_refused_too():
    """A sweep's own overrides (e.g. a preset's `hydra.sweeper.params`) never pass the command-line check."""
    cfg = compose_config("+train.epoch=5")
    with pytest.raises(UserError, match=r"unknown setting 'train.epoch'; did you mean train.epochs\?"):
        check_settings(cfg, ["+train.epoch=5"], {"experiment", "model", "method", "dataset"})


def test_the_unknown_key_check_leaves_component_options_to_the_component(tmp_path, capsys):
    status, stderr = run_cli([*FAST, f"output_root={tmp_path}", "+method.bogus=1"], capsys)
    assert status == 2 and "unexpected keyword argument 'bogus'" in stderr.strip().splitlines()[-1]


def test_an_empty_output_root_writes_nothing_at_the_file_system_root(capsys):
    root_launches = Path("/launches")  # where Hydra's `${output_root}/launches/...` lands for an empty root
    if root_launches.exists():
        pytest.skip(f"{root_launches} exists already; nothing to observe")
    status, _ = run_cli([*FAST, "output_root="], capsys)
    assert status == 2
    assert not root_launches.exists()


def test_a_model_too_large_for_memory_is_refused_before_it_is_built(tmp_path):
    done = run_main(*FAST, "model.hidden=[100000000]", output_root=tmp_path, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: model=mlp3 has 79,500,000,010 dense parameters (296.2 GiB as float32") and \
        "free: choose a smaller model (model.hidden, model.width)" in line
    [record] = result_records(tmp_path)
    assert record["status"] == "failed" and "dense parameters" in record["error"]  # redone by the next launch


@pytest.mark.parametrize("n_jobs", ["0", "-1000"])
def test_a_parallel_sweep_refuses_n_jobs_it_cannot_take(tmp_path, capsys, n_jobs):
    status, stderr = run_cli(["-m", *FAST, f"output_root={tmp_path}", "seed=1,2", "hydra/launcher=parallel",
                              f"hydra.launcher.n_jobs={n_jobs}"], capsys)
    assert status == 2 and stderr.strip().splitlines() == [
        f"error: hydra.launcher.n_jobs={n_jobs}: allowed are a positive integer (processes at once) or "
        f"-1 .. -{len(os.sched_getaffinity(0))} (-1: one per usable core, -2: all but one, ...)"]
    assert not (tmp_path / "runs").exists()
