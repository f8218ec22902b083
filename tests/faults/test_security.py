"""A file the harness reads back is data, never code: crafted checkpoints, CIFAR-10 batches, journals and
records are refused or shown as text, and the code they name never runs (a marker file never appears)."""
import hashlib
import os
import pickle

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from bench.components import call_target
from bench.errors import UserError
from bench.compression.checkpoint import export_compressed, load_compressed
from conftest import method_node, model_factory
from datasets.cifar10 import FOLDER, TEST_FILE, TRAIN_FILES, load_cifar10
from reports.leaderboard import write_report
from test_leaderboard import record

SPEC = model_factory("mlp3", (1, 28, 28), 10, "model.hidden=[30]")


def real_checkpoint(path):
    node = method_node("hashednets")
    method = call_target(node)
    export_compressed(path, method, node, SPEC, 2000, 7, method.build(SPEC, 2000, seed=7))
    return torch.load(path, weights_only=True)


def shell_command(marker) -> dict:
    return {"_target_": "subprocess.call", "args": f"touch {marker}", "shell": True}


@pytest.mark.parametrize("where", ["method", "student of the method", "model"])
def test_a_checkpoint_naming_any_callable_is_refused_and_runs_nothing(tmp_path, where):
    path, marker = tmp_path / "model.pt", tmp_path / "pwned"
    checkpoint = real_checkpoint(path)
    if where == "method":
        checkpoint["method_config"] = shell_command(marker)
    elif where == "student of the method":
        checkpoint["method_config"] = {**OmegaConf.to_container(method_node("dk")), "student": shell_command(marker)}
    else:
        checkpoint["model"]["node"] = {**checkpoint["model"]["node"], **shell_command(marker)}
    torch.save(checkpoint, path)
    # who hands over a checkpoint can hand over a matching record: the digest check does not help
    record_of_it = {"checkpoint_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    for given in (None, record_of_it):
        with pytest.raises(UserError) as refused:
            load_compressed(path, record=given)
        message = str(refused.value)
        assert str(path) in message and "'subprocess.call'" in message and "\n" not in message
    assert not marker.exists()


def test_a_checkpoint_of_the_projects_own_classes_still_loads(tmp_path):
    real_checkpoint(tmp_path / "model.pt")
    assert isinstance(load_compressed(tmp_path / "model.pt"), torch.nn.Module)


class RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_cifar_batch_that_would_run_code_is_a_corrupt_file_and_runs_nothing(tmp_path):
    folder, marker = tmp_path / FOLDER, tmp_path / "pwned"
    folder.mkdir()
    images, labels = np.zeros((10, 3072), np.uint8), list(range(10))
    for name in (*TRAIN_FILES, TEST_FILE):
        with open(folder / name, "wb") as file:
            pickle.dump({b"data": images, b"labels": labels}, file, protocol=2)
    with open(folder / TRAIN_FILES[2], "wb") as file:
        pickle.dump({b"data": images, b"labels": labels, b"x": RunsAShellCommand(marker)}, file, protocol=2)
    with pytest.raises(UserError) as refused:
        load_cifar10(root=str(tmp_path), download=False)
    assert str(folder / TRAIN_FILES[2]) in str(refused.value) and "posix.system" in str(refused.value)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_cifar_batches_pickled_with_any_protocol_still_load(tmp_path, protocol):
    folder = tmp_path / FOLDER
    folder.mkdir()
    for name in (*TRAIN_FILES, TEST_FILE):
        with open(folder / name, "wb") as file:
            pickle.dump({b"data": np.full((10, 3072), 7, np.uint8), b"labels": list(range(10)),
                         b"filenames": [b"a.png"] * 10, b"batch_label": b"x"}, file, protocol=protocol)
    data = load_cifar10(root=str(tmp_path), download=False)
    assert data.test_x.shape == (10, 3, 32, 32) and torch.all(data.test_x == 7 / 255)


SCRIPT, FRAME, IMAGE = "</script><script>alert(1)</script>", '<iframe src="https://example.org"></iframe>', \
    "<img src=x onerror=alert(1)>"


def report_of(tmp_path, method: str, model: str, hparam, study: str, section_builders=()):
    records = [record(method, "1/8", seed, 0.1 + seed / 100, model=model) for seed in (1, 2)]
    records += [record("=HYPERLINK(\"http://x\")", "1/8", seed, 0.2, model=model) for seed in (1, 2)]
    for rec in records:
        rec.update(hparams={"train": {"lr": hparam}}, hparams_source={
            "study": study, "trial": 0, "val_error": 0.1, "finished_trials": 1})
    return write_report(records, tmp_path, section_builders=list(section_builders))


def test_record_strings_are_text_in_the_html_report_and_never_formulas_in_the_csv(tmp_path):
    from reports.tuning import tuned_section

    hostile = report_of(tmp_path / "hostile", SCRIPT, FRAME, IMAGE, "[link](javascript:alert(1))", [tuned_section])
    benign = report_of(tmp_path / "benign", "scriptless", "frameless", 0.1, "study", [tuned_section])
    page = hostile["html"].read_text()
    # the page's own scripts (the charts) and nothing a record brought
    assert page.count("<script") == benign["html"].read_text().count("<script")
    for markup in ("<iframe", "<img src=x", 'href="javascript:', "<script>alert(1)"):
        assert markup not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as the text it is
    cells = hostile["csv"].read_text()
    assert "'=HYPERLINK" in cells and ",=HYPERLINK" not in cells and "\n=HYPERLINK" not in cells


def test_a_journal_naming_a_target_among_its_parameters_is_moved_aside_not_used(tmp_path):
    """A crafted journal whose best trial sets `method._target_` never reaches a constructor."""
    from conftest import compose_config, run_main
    from bench.tuning.study import JOURNAL_FILE, storage, study_dir, study_name
    import optuna

    cell = ["method=lowrank", "ratio=1/64", "dataset=mnist5k_tiny", "train.epochs=1", "model.hidden=[16]",
            "logger=none"]
    cfg = compose_config(*cell, f"output_root={tmp_path}")
    directory = study_dir(cfg)
    directory.mkdir(parents=True)
    study = optuna.create_study(study_name=study_name(cfg), storage=storage(directory))
    study.set_user_attr("n_trials", 1)
    study.add_trial(optuna.trial.create_trial(
        params={"method._target_": "subprocess.call", "method.args": f"touch {tmp_path / 'pwned'}"},
        distributions={"method._target_": optuna.distributions.CategoricalDistribution(["subprocess.call"]),
                       "method.args": optuna.distributions.CategoricalDistribution([f"touch {tmp_path / 'pwned'}"])},
        value=0.0))
    done = run_main(*cell, "tuned=true", output_root=tmp_path, check=False)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: tuned=true: no tuning study")
    assert "not a usable tuning journal" in done.stdout + done.stderr
    assert (directory / f"{JOURNAL_FILE}.corrupt-1").is_file() and not (tmp_path / "pwned").exists()


def test_a_checkpoint_whose_target_is_not_a_string_is_refused_in_one_line(tmp_path):
    path = tmp_path / "model.pt"
    checkpoint = real_checkpoint(path)
    checkpoint["method_config"] = {**checkpoint["method_config"], "_target_": ["subprocess.call"]}
    torch.save(checkpoint, path)
    with pytest.raises(UserError, match=r"refusing to call \"\['subprocess.call'\]\" named by the file"):
        load_compressed(path)
