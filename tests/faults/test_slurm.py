"""The `slurm` launcher on a real, one-machine Slurm cluster (tools/slurm/local_cluster.sh): a sweep with one
job cancelled part way, launched again, ends with every run complete once.

Skipped where the cluster cannot be started (not root, Slurm not installable, daemons that do not come up).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "tools" / "slurm" / "local_cluster.sh"
SWEEP = ["-m", "method=nn", "seed=1,2,3,4", "logger=none", "dataset=mnist5k_tiny", "model.hidden=[32]",
         "train.epochs=800", "train.patience=1000", "hydra/launcher=slurm", "hydra.launcher.partition=local",
         "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10"]


@pytest.fixture(scope="module")
def slurm_env(tmp_path_factory):
    """The environment that reaches the local cluster (SLURM_CONF, the stand-in sacct on PATH)."""
    if os.geteuid() != 0:
        pytest.skip("starting a Slurm cluster needs root")
    cluster_dir = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(CLUSTER), "start", str(cluster_dir)], capture_output=True, text=True,
                             timeout=180)
    if started.returncode != 0:
        pytest.skip(f"no local Slurm cluster here: {started.stderr.strip()[-500:]}")
    exports = dict(re.findall(r"(\w+)=(\S+)", started.stdout))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SLURM_CONF": exports["SLURM_CONF"],
           "PATH": exports["PATH"].replace("$PATH", os.environ["PATH"])}
    yield env
    subprocess.run(["bash", str(CLUSTER), "stop", str(cluster_dir)], timeout=60)


def records(output_root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (output_root / "runs").glob("*/result.json")]


def slurm(env: dict, *command: str) -> str:
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=30).stdout


def wait_for(condition, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def launch(env: dict, output_root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "main.py", *SWEEP, f"output_root={output_root}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_slurm_sweep_with_a_cancelled_job_completes_each_run_once_when_launched_again(slurm_env, tmp_path):
    sweep = launch(slurm_env, tmp_path)
    wait_for(lambda: any(r["status"] == "running" for r in records(tmp_path)), "a run to start on the cluster")
    victim = next(r for r in records(tmp_path) if r["status"] == "running")
    job_index = Path(victim["launch_dir"]).name  # the job's number in the sweep is its index in the job array
    [job] = [j for j in slurm(slurm_env, "squeue", "-h", "-o", "%i").split() if j.endswith(f"_{job_index}")]
    slurm(slurm_env, "scancel", job)
    output, _ = sweep.communicate(timeout=300)
    assert sweep.returncode != 0, output[-3000:]  # the launch reports the cancelled job
    wait_for(lambda: not slurm(slurm_env, "squeue", "-h").strip(), "the sweep's other jobs to end")
    cancelled = next(r for r in records(tmp_path) if r["config_hash"] == victim["config_hash"])
    # scancel sends SIGTERM, which the run records, then SIGKILL KillWait (2) seconds later: on a loaded
    # machine the kill may come first; either way the next launch redoes it
    assert cancelled["status"] in ("interrupted", "running")

    again = launch(slurm_env, tmp_path)
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output[-3000:]
    wait_for(lambda: not slurm(slurm_env, "squeue", "-h").strip(), "the relaunched jobs to end")
    found = records(tmp_path)
    assert len(found) == 4 and all(r["status"] == "complete" for r in found)
    assert sorted(r["seed"] for r in found) == [1, 2, 3, 4]  # each run once, none twice
    # threads=auto takes the job's allocation (cpus_per_task=1), not the node's cores
    assert all(r["cpu"]["threads"] == 1 and r["cpu"]["threads_source"].startswith("auto: 1 cores") for r in found)
    [kept] = list((tmp_path / "runs").glob("*/attempts/*"))  # only the cancelled attempt was redone
    assert kept.parent.parent.name == victim["config_hash"]


def test_a_population_sweep_on_slurm_trains_each_population_as_one_job(slurm_env, tmp_path):
    sweep = ["-m", "method=nn,rer", "ratio=1/8", "seed=1,2", "logger=none", "dataset=mnist5k_tiny", "model.hidden=[32]",
             "train.epochs=2", "hydra/launcher=population_slurm", "hydra.launcher.slurm.partition=local",
             "hydra.launcher.slurm.cpus_per_task=1", "hydra.launcher.slurm.mem_gb=1",
             "hydra.launcher.slurm.timeout_min=10", f"output_root={tmp_path}"]
    done = subprocess.run([sys.executable, "main.py", *sweep], cwd=ROOT, env=slurm_env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = records(tmp_path)
    assert sorted((r["method"], r["seed"], r["status"]) for r in found) == \
        [("nn", 1, "complete"), ("nn", 2, "complete"), ("rer", 1, "complete"), ("rer", 2, "complete")]
    assert all(r["population"]["size"] == 2 for r in found) and len({r["population"]["group"] for r in found}) == 2
    # each population ran in a job of its own, on that job's allocation (cpus_per_task=1)
    assert len({p.parent for p in tmp_path.rglob(".submitit/*/*_result.pkl")}) == 2
    assert all(r["cpu"]["threads"] == 1 and r["cpu"]["threads_source"].startswith("auto: 1 cores") for r in found)
