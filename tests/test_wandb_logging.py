"""The wandb logger, offline: what it logged is read back from the run's own files."""
from conftest import result_records, run_main
from wandb_offline import read_offline_run


def test_offline_wandb_run_logs_config_epochs_and_final_figures(tmp_path):
    run_main("dataset=mnist5k_tiny", "train.epochs=2", "logger=wandb", "logger.mode=offline",
             output_root=tmp_path)
    [record] = result_records(tmp_path)
    [log_file] = tmp_path.rglob("run-*.wandb")
    assert record["loggers"]["wandb"]["id"] in log_file.name and record["loggers"]["errors"] == []

    config, history, summary = read_offline_run(log_file)
    epochs = [h for h in history if "val_error" in h]
    assert [h["epoch"] for h in epochs] == [1, 2]
    assert [h["val_error"] for h in epochs] == [h["val_error"] for h in record["history"]]
    assert summary["test_error"] == record["test_error"]
    assert summary["params_stored"] == record["params_stored"] and summary["bytes_on_disk"] == record["bytes_on_disk"]
    assert summary["ratio"] == "1/8"
    assert config["method"]["name"] == "hashednets" and config["train"]["epochs"] == 2


def test_a_failing_wandb_never_loses_the_result_record(tmp_path):
    # an invalid mode makes wandb.init fail; the run must still complete and record why
    run_main("dataset=mnist5k_tiny", "train.epochs=1", "logger=wandb", "logger.mode=no-such-mode",
             output_root=tmp_path)
    [record] = result_records(tmp_path)
    assert record["status"] == "complete"
    assert any("wandb" in e for e in record["loggers"]["errors"])
