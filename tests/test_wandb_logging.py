"""The wandb logger, offline: what it logged is read back from the run's own files."""
from pathlib import Path

from conftest import result_records, run_main
from wandb_offline import read_offline_run, read_run_details


def test_offline_wandb_run_logs_config_epochs_and_final_figures(tmp_path):
    run_main("dataset=mnist5k_tiny", "train.epochs=2", "logger=wandb", "logger.mode=offline",
             "logger.log_model=true", output_root=tmp_path)
    [record] = result_records(tmp_path)
    [log_file] = tmp_path.rglob("run-*.wandb")
    assert record["loggers"]["wandb"]["id"] in log_file.name and record["loggers"]["errors"] == []

    config, history, summary = read_offline_run(log_file)
    epochs = [h for h in history if "val_error" in h]
    assert [h["epoch"] for h in epochs] == [1, 2]
    assert [h["val_error"] for h in epochs] == [h["val_error"] for h in record["history"]]
    assert summary["test_error"] == record["test_error"]
    assert summary["params_stored"] == record["params_stored"] and summary["bytes_on_disk"] == record["bytes_on_disk"]
    assert summary["ratio"] == 0.125 and summary["ratio_label"] == "1/8" and summary["compression_factor"] == 8.0
    assert config["ratio"] == 0.125 and config["compression_factor"] == 8.0
    assert config["method"]["name"] == "hashednets" and config["train"]["epochs"] == 2
    assert [(h["compression_factor"], h["test_error"]) for h in history if "test_error" in h] == [
        (8.0, record["test_error"])]  # the point plotted against compression_factor

    details = read_run_details(log_file)
    assert details["job_type"] == "run" and details["group"] == ""  # a single run belongs to no sweep
    assert details["name"] == "hashednets-mnist5k_tiny-mlp3-r1/8-s1"
    assert details["tags"] == ["run", "hashednets", "mnist5k_tiny", "mlp3"]
    assert details["metrics"]["val_error"] == "epoch" and details["metrics"]["test_error"] == "compression_factor"
    assert details["artifacts"] == [("model", f"model-{record['config_hash'][:16]}")]  # logger.log_model=true


def test_a_sweeps_trials_and_teacher_are_told_apart_and_grouped_by_what_it_sweeps(tmp_path):
    run_main("-m", "method=hashednets,dk", "seed=1", "dataset=mnist5k_tiny", "train.epochs=1", "evaluate_test=false",
             "logger=wandb", "logger.mode=offline", output_root=tmp_path)
    [sweep] = (tmp_path / "multiruns").iterdir()
    runs = [read_run_details(path) for path in tmp_path.rglob("run-*.wandb")]
    assert {run["group"] for run in runs} == {f"method | {sweep.name}"}
    by_kind = {kind: [run for run in runs if run["job_type"] == kind] for kind in ("trial", "teacher")}
    assert len(by_kind["trial"]) == 2 and len(by_kind["teacher"]) == 1 and len(runs) == 3
    assert sorted(run["tags"][:2] for run in by_kind["trial"]) == [["trial", "dk"], ["trial", "hashednets"]]
    hashes = {Path(r["run_dir"]).name[:8] for r in result_records(tmp_path)}
    assert {run["name"].rsplit("-", 1)[1] for run in by_kind["trial"]} == hashes  # trials named apart
    [teacher] = by_kind["teacher"]
    assert teacher["tags"] == ["teacher", "dk", "mnist5k_tiny", "mlp3"] and teacher["name"].endswith("-teacher")


def test_a_failing_wandb_never_loses_the_result_record(tmp_path):
    # an invalid mode makes wandb.init fail; the run must still complete and record why
    run_main("dataset=mnist5k_tiny", "train.epochs=1", "logger=wandb", "logger.mode=no-such-mode",
             output_root=tmp_path)
    [record] = result_records(tmp_path)
    assert record["status"] == "complete"
    assert any("wandb" in e for e in record["loggers"]["errors"])
