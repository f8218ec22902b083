"""End-to-end runs of main.py on a tiny slice of real digits."""
import re

import pytest

from bench.training.evaluate import error_rate
from bench.compression.checkpoint import load_compressed
from bench.storage.predictions import PREDICTIONS_FILE, read_test_predictions
from bench.storage.state_files import file_sha256
from conftest import result_records, run_main
from datasets.mnist5k import load_mnist5k

RECORD_KEYS = {
    "method", "ratio", "dataset", "model", "seed", "params_ref", "params_budget", "params_stored", "fill",
    "bytes_on_disk", "val_error", "test_error", "best_epoch", "epochs_run", "train_seconds", "config_hash",
    "versions", "status",
}


def test_a_run_writes_an_honest_result_record_and_a_reloadable_checkpoint(tmp_path, tiny_run_args):
    done = run_main("method=hashednets", "ratio=1/8", *tiny_run_args, output_root=tmp_path)
    [record] = result_records(tmp_path)
    assert RECORD_KEYS <= set(record)
    assert record["status"] == "complete" and record["method"] == "hashednets" and record["ratio"] == "1/8"
    assert record["dataset"] == "mnist5k_tiny" and record["model"] == "mlp3" and record["seed"] == 1
    assert record["params_ref"] == 795010 and record["params_budget"] == 795010 // 8
    assert record["params_stored"] <= record["params_budget"] and record["fill"] >= 0.97
    assert record["epochs_run"] == 3 and 1 <= record["best_epoch"] <= 3
    # the selected epoch is the one with the best validation error
    val_errors = [h["val_error"] for h in record["history"]]
    assert record["val_error"] == min(val_errors) == val_errors[record["best_epoch"] - 1]
    # the checkpoint on disk is the one measured, and reloads to the recorded test error
    run_dir = next(tmp_path.rglob("result.json")).parent
    assert record["bytes_on_disk"] == (run_dir / "model.pt").stat().st_size
    data = load_mnist5k(train_per_class=30, val_per_class=10, test_per_class=10)
    assert error_rate(load_compressed(run_dir / "model.pt"), data.test_x, data.test_y) == record["test_error"]
    assert "test error" in done.stdout + done.stderr  # the final summary line
    assert record["versions"]["torch"] and not list(run_dir.glob(".result.json.*"))  # atomic write
    # its per-example test predictions beside it, guarded by the digest in the record, give its test error
    predicted, label = read_test_predictions({**record, "record_path": str(run_dir / "result.json")})
    assert len(label) == len(data.test_y) and (label == data.test_y.numpy()).all()
    assert record["test_predictions_sha256"] == file_sha256(run_dir / PREDICTIONS_FILE)
    # where it came from: the command that runs this job again, and the code's commit (None outside a clone)
    assert record["command"] == (f"python main.py method=hashednets ratio=1/8 {' '.join(tiny_run_args)} "
                                 f"output_root={tmp_path}")
    assert record["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}(\+changes)?", record["git_commit"])


def test_same_seed_gives_the_same_test_error_twice(tmp_path, tiny_run_args):
    for attempt in ("a", "b"):
        run_main("seed=3", *tiny_run_args, output_root=tmp_path / attempt)
    [a], [b] = result_records(tmp_path / "a"), result_records(tmp_path / "b")
    assert a["test_error"] == b["test_error"] and a["history"][-1]["train_loss"] == b["history"][-1]["train_loss"]
    assert a["config_hash"] == b["config_hash"]


@pytest.mark.parametrize("overrides", [
    ["method=dense"], ["method=nn", "ratio=1/64"], ["method=hashednets", "ratio=1/64", "model=mlp5"],
])
def test_the_documented_method_and_model_choices_run(tmp_path, tiny_run_args, overrides):
    run_main(*overrides, *tiny_run_args[:1], "train.epochs=1", "logger=none", output_root=tmp_path)
    [record] = result_records(tmp_path)
    assert record["params_stored"] <= record["params_budget"]
    if overrides == ["method=dense"]:
        assert record["ratio"] == "1" and record["params_stored"] == record["params_ref"]


@pytest.mark.parametrize("overrides, expected", [
    (["ratio=2"], "ratio='2' is outside (0, 1]"),
    (["ratio=abc"], "ratio='abc' is not a number"),
    (["ratio=0"], "ratio='0' is outside (0, 1]"),
    (["method=dense", "ratio=1/8"], "over the budget"),
    (["method=nn", "ratio=1/1000"], "smallest ratio it supports"),
    (["+method.bogus=1"], "unexpected keyword argument 'bogus'"),
    (["method=nope"], "method='nope' is unknown; allowed: dense, dk,"),
    (["dataset=mnist5k,foo"], "dataset='foo' is unknown; allowed: basic,"),
    (["budget.unit=kb"], "budget.unit='kb' is not one of params, bytes"),
    (["budget.unit=bytes", "ratio=1/8192"], "over the byte budget of 388 (= floor(ratio * 3,182,"),
])
def test_bad_input_ends_with_one_error_line_and_no_run(tmp_path, tiny_run_args, overrides, expected):
    done = run_main(*tiny_run_args, *overrides, output_root=tmp_path, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and expected in done.stderr
    assert "Traceback" not in done.stderr
    # nothing trained: at most a record of the failed attempt, naming the reason
    assert all(r["status"] == "failed" and expected in r["error"] for r in result_records(tmp_path))
