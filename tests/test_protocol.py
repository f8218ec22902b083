"""experiment=paper: every cell's study, then its finals, then the report, in one resumable command."""
import json

import pytest

from bench.errors import UserError
from bench.protocol.grid import cell_label, check_protocol, final_runs, protocol_cells
from bench.protocol.progress import ProtocolProgress
from conftest import result_records, run_main

GRID = ["method=nn", "ratio=1/8", "dataset=mnist5k_tiny", "model=mlp3", "model.hidden=[64]", "train.epochs=1",
        "logger=none", "protocol.trials=2", "protocol.seeds=1"]
METHODS = {"dense", "nn", "hashednets"}


def test_dense_cells_run_at_ratio_one_and_the_reference_joins_every_combination():
    cells = [["method=nn", "ratio=1/8", "dataset=rect"], ["method=nn", "ratio=1/64", "dataset=rect"],
             ["method=dense", "ratio=1/8", "dataset=rect"], ["method=nn", "ratio=1/8", "dataset=convex"]]
    assert protocol_cells(cells, "dense") == [
        ["method=nn", "ratio=1/8", "dataset=rect"], ["method=dense", "ratio=1", "dataset=rect"],
        ["method=nn", "ratio=1/64", "dataset=rect"],
        ["method=nn", "ratio=1/8", "dataset=convex"], ["method=dense", "ratio=1", "dataset=convex"]]
    assert protocol_cells(cells[:2], None) == cells[:2]


def test_finals_name_the_protocols_target_and_skip_the_tuning_seed():
    assert final_runs(["method=nn"], 2, 7) == [["method=nn", "seed=1", "tuned=true", "tune.n_trials=7"],
                                               ["method=nn", "seed=2", "tuned=true", "tune.n_trials=7"]]
    assert cell_label(["method=nn", "logger=none", "threads=1", "experiment=paper", "train.lr=0.1"]) == \
        "method=nn train.lr=0.1"


@pytest.mark.parametrize("protocol, tune_seed, message", [
    ({"trials": 0, "seeds": 3, "reference": "dense"}, 0, "protocol.trials=0 must be a positive integer"),
    ({"trials": 2, "seeds": "x", "reference": "dense"}, 0, "protocol.seeds='x' must be a positive integer"),
    ({"trials": 2, "seeds": 3, "reference": "dense"}, 2, "include the tuning seed tune.seed=2"),
    ({"trials": 2, "seeds": 3, "reference": "dens"}, 0, "protocol.reference='dens' is unknown"),
])
def test_bad_protocol_settings_are_refused(protocol, tune_seed, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_protocol(protocol, tune_seed, METHODS)


def protocol(tmp_path, *overrides, check=True):
    return run_main("-m", "experiment=paper", *GRID, *overrides, output_root=tmp_path, check=check)


def test_one_command_tunes_runs_the_finals_reports_and_resumes(tmp_path):
    protocol(tmp_path)
    records = result_records(tmp_path / "runs")
    trials = [r for r in records if not r["evaluate_test"]]
    finals = [r for r in records if r["evaluate_test"]]
    assert sorted((r["method"], r["ratio"]) for r in trials) == [("dense", "1")] * 2 + [("nn", "1/8")] * 2
    assert all(r["seed"] == 0 and r["test_error"] is None for r in trials)  # tuning never reads the test set
    assert sorted((r["method"], r["seed"]) for r in finals) == [("dense", 1), ("nn", 1)]
    assert all(r["hparams_source"]["finished_trials"] == 2 and r["status"] == "complete" for r in finals)
    report = tmp_path / "report"
    assert (report / "index.html").is_file() and (report / "leaderboard.csv").is_file()
    manifest = json.loads((report / "protocol.json").read_text())
    assert sorted(manifest["finals"]) == sorted(r["config_hash"] for r in finals)
    assert manifest["grid"] == ["method=nn dataset=mnist5k_tiny model=mlp3 ratio=1/8 model.hidden=[64] train.epochs=1",
                                "method=dense dataset=mnist5k_tiny model=mlp3 ratio=1 model.hidden=[64] train.epochs=1"]

    again = protocol(tmp_path)  # after completion: nothing to do, nothing rerun, the report left alone
    assert "nothing to do" in again.stderr + again.stdout
    assert result_records(tmp_path / "runs") == records
    assert json.loads((report / "protocol.json").read_text()) == manifest

    # an interruption: one final left `interrupted`; only it runs again, and the report is brought up to date
    nn_final = next(r for r in finals if r["method"] == "nn")
    path = tmp_path / "runs" / nn_final["config_hash"] / "result.json"
    path.write_text(json.dumps({**nn_final, "status": "interrupted"}))
    resumed = protocol(tmp_path)
    assert "nothing to do" not in resumed.stderr + resumed.stdout
    after = {r["config_hash"]: r for r in result_records(tmp_path / "runs") if "attempts" not in r.get("run_dir", "")}
    rerun = [h for h, r in after.items() if r["started"] != next((o["started"] for o in records
                                                                 if o["config_hash"] == h), None)]
    assert rerun == [nn_final["config_hash"]] and after[nn_final["config_hash"]]["status"] == "complete"
    assert json.loads((report / "protocol.json").read_text())["written"] != manifest["written"]


def test_bad_settings_and_a_single_run_are_refused_in_one_line(tmp_path):
    for overrides, message in [(["protocol.trials=0"], "protocol.trials=0 must be a positive integer"),
                               (["tune.n_trials=5"], "set protocol.trials instead")]:
        done = protocol(tmp_path, *overrides, check=False)
        assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == f"error: {done.stderr.split('error: ')[-1].strip()}"
        assert message in done.stderr
    single = run_main("experiment=paper", *GRID, output_root=tmp_path, check=False)
    assert single.returncode == 2 and "add -m" in single.stderr
    assert not (tmp_path / "runs").exists()


def test_progress_counts_studies_trials_and_finals_and_estimates_the_time_left():
    progress = ProtocolProgress(cells=2, trials_total=8, trials_done=4, cells_tuned=1, finals_total=4)
    assert progress.seconds_left() is None and "left" not in progress.line()  # no run of this launch yet
    progress.trials_ran(2, 60.0, "nn-x", 0.25, finished=False)
    assert progress.seconds_left() == 30.0 * (2 + 4)  # 30 s a run, 2 trials and 4 finals missing
    progress.trials_ran(2, 60.0, "nn-x", 0.125, finished=True)
    progress.finals_found(1)
    assert progress.line() == ("protocol: 2 of 2 studies finished, 8 of 8 trials, 1 of 4 finals; best so far in "
                               "study nn-x: 12.50% validation error; about 2 min left")
    progress.finals_ran(3, 90.0)
    assert progress.seconds_left() is None and progress.line().endswith("4 of 4 finals; best so far in study "
                                                                        "nn-x: 12.50% validation error")
