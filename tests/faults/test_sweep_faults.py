"""Sweeps under faults: the launching process killed, interrupted, launched twice; every run ends complete once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_SILENT": "true"}
# Runs of a few seconds each: tiny data, a narrow net, no early stopping to cut them short.
TINY = ["logger=none", "dataset=mnist5k_tiny", "model.hidden=[32]", "train.patience=1000"]
FOUR_RUNS = ["-m", "method=nn", "seed=1,2,3,4"]
# Launchers whose runs train in local worker processes of the sweep's own process.
LOCAL_WORKERS = {"parallel": ["hydra/launcher=parallel", "hydra.launcher.n_jobs=2"],
                 "slurm_local": ["hydra/launcher=slurm_local"]}


def launch(*overrides, output_root: Path) -> subprocess.Popen:
    """`python main.py OVERRIDES` in its own session, so every process it starts can be found by session id."""
    return subprocess.Popen([sys.executable, "main.py", *overrides, f"output_root={output_root}"], cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def finish(process: subprocess.Popen) -> str:
    """Wait for a launch to succeed; its output."""
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    return output


def records(output_root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (output_root / "runs").glob("*/result.json")]


def attempts(output_root: Path) -> list[Path]:
    return list((output_root / "runs").glob("*/attempts/*"))


def wait_for(condition, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def session_processes(session: int) -> list[int]:
    """Live (not zombie) processes of a session, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        state, sid = fields[0], int(fields[3])
        if sid == session and state != "Z":
            found.append(int(stat.parent.name))
    return found


def assert_each_complete_once(output_root: Path, count: int) -> None:
    found = records(output_root)
    assert len(found) == count and all(r["status"] == "complete" for r in found)
    assert len({r["config_hash"] for r in found}) == count  # no run twice under two identities


@pytest.mark.parametrize("launcher", LOCAL_WORKERS)
def test_killing_a_sweep_leaves_no_worker_training(tmp_path, launcher):
    sweep = [*FOUR_RUNS, *TINY, "train.epochs=200", *LOCAL_WORKERS[launcher]]
    parent = launch(*sweep, output_root=tmp_path)
    wait_for(lambda: sum(r["status"] == "running" for r in records(tmp_path)) >= 2, what="two runs training")
    workers = {r["pid"] for r in records(tmp_path)}
    assert parent.pid not in workers  # the runs train in worker processes
    os.kill(parent.pid, signal.SIGKILL)
    parent.communicate()
    wait_for(lambda: not session_processes(parent.pid), timeout=5, what="the sweep's workers to exit")
    killed = [r for r in records(tmp_path) if r["status"] == "running"]  # killed mid-training, left to be redone
    assert killed

    finish(launch(*sweep, output_root=tmp_path))
    assert_each_complete_once(tmp_path, 4)
    assert len(attempts(tmp_path)) == len(killed)  # the killed attempts are kept, not overwritten


@pytest.mark.parametrize("signum, completed_before", [(signal.SIGKILL, 0), (signal.SIGINT, 1), (signal.SIGKILL, 2)],
                         ids=["SIGKILL-first-run", "SIGINT-second-run", "SIGKILL-third-run"])
def test_a_sweep_stopped_at_any_point_completes_each_run_once_when_launched_again(tmp_path, signum, completed_before):
    sweep = ["-m", "method=nn", "seed=1,2,3", *TINY, "train.epochs=20"]
    process = launch(*sweep, output_root=tmp_path)
    wait_for(lambda: sum(r["status"] == "running" for r in records(tmp_path)) == 1
             and sum(r["status"] == "complete" for r in records(tmp_path)) == completed_before,
             what=f"{completed_before} runs done and the next one started")
    os.kill(process.pid, signum)
    process.communicate(timeout=60)
    assert process.returncode != 0
    left = records(tmp_path)
    assert sum(r["status"] == "complete" for r in left) == completed_before and len(left) == completed_before + 1

    again = finish(launch(*sweep, output_root=tmp_path))
    assert again.count("already complete") == completed_before  # done runs are not trained again
    assert_each_complete_once(tmp_path, 3)
    assert len(attempts(tmp_path)) == 1  # the stopped run's attempt, kept


def test_the_same_run_launched_twice_at_once_trains_once(tmp_path):
    run = ["method=nn", *TINY, "train.epochs=20"]
    outputs = [finish(p) for p in [launch(*run, output_root=tmp_path) for _ in range(2)]]
    assert sum("skipping" in out for out in outputs) == 1
    assert_each_complete_once(tmp_path, 1)
    assert not attempts(tmp_path)


def test_the_same_sweep_launched_twice_at_once_runs_each_run_once(tmp_path):
    sweep = ["-m", "method=nn", "seed=1,2,3", *TINY, "train.epochs=20"]
    outputs = [finish(p) for p in [launch(*sweep, output_root=tmp_path) for _ in range(2)]]
    trained = sum(out.count("test error") for out in outputs)
    assert trained == 3 and sum(out.count("skipping") for out in outputs) == 3
    assert_each_complete_once(tmp_path, 3)
    assert not attempts(tmp_path)


@pytest.mark.parametrize("signum, to_whom, status, said", [
    (signal.SIGINT, "every process of the session (a terminal's Ctrl-C)", 130, "Ctrl-C"),
    (signal.SIGTERM, "the launching process only (`kill`)", 143, "SIGTERM")], ids=["Ctrl-C", "SIGTERM"])
def test_a_stopped_parallel_sweep_says_so_in_lines_and_records_its_runs_interrupted(tmp_path, signum, to_whom,
                                                                                     status, said):
    sweep = [*FOUR_RUNS, *TINY, "train.epochs=600", *LOCAL_WORKERS["parallel"]]  # a few seconds of training each
    process = launch(*sweep, output_root=tmp_path)
    wait_for(lambda: sum(r["status"] == "running" for r in records(tmp_path)) >= 2, what="two runs training")
    training = {r["config_hash"] for r in records(tmp_path) if r["status"] == "running"}
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == status and "Traceback" not in output, output[-3000:]
    assert [line for line in output.splitlines() if "interrupted" in line] == [
        f"interrupted: stopped by {said}; each run that started is recorded in its own result.json, and launching "
        "the same command again finishes what is missing"]  # one line for the sweep, none per worker
    # the runs training at the signal record it (a run joblib started meanwhile may be killed `running`); the one
    # started first may have finished before the signal reached its process, and is then rightly `complete`
    ended = {r["config_hash"]: r["status"] for r in records(tmp_path) if r["config_hash"] in training}
    assert "interrupted" in ended.values() and set(ended.values()) <= {"interrupted", "complete"}, (ended, output[-3000:])
    finish(launch(*sweep, output_root=tmp_path))
    assert_each_complete_once(tmp_path, 4)


def test_more_parallel_jobs_than_cores_are_capped_and_said(tmp_path):
    output = finish(launch("-m", "method=nn", "seed=1,2", *TINY, "train.epochs=2", "hydra/launcher=parallel",
                           "hydra.launcher.n_jobs=1000", output_root=tmp_path))
    cores = len(os.sched_getaffinity(0))
    assert (f"hydra.launcher.n_jobs=1000: more processes than the {cores} usable cores only compete for them; "
            f"running at most {cores} at a time") in output
    assert f"Joblib.Parallel(n_jobs={min(cores, 2)}," in output
    assert_each_complete_once(tmp_path, 2)


def test_a_stopped_population_records_every_member_interrupted(tmp_path):
    sweep = [*FOUR_RUNS, *TINY, "train.epochs=2000", "hydra/launcher=population", "hydra.launcher.n_jobs=1"]
    process = launch(*sweep, output_root=tmp_path)  # one population of four, trained in the launching process
    wait_for(lambda: sum(r["status"] == "running" for r in records(tmp_path)) == 4, what="the population training")
    os.kill(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 143 and "Traceback" not in output, output[-3000:]
    assert sorted(r["status"] for r in records(tmp_path)) == ["interrupted"] * 4, output[-3000:]
