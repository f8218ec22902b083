"""wandb unreachable: a run waits at most `logger.init_timeout` for it, keeps its record, and a sweep stops trying."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from bench.run.loggers import WANDB_GIVEN_UP

ROOT = Path(__file__).resolve().parents[2]
TINY = ["method=nn", "dataset=mnist5k_tiny", "train.epochs=2", "model.hidden=[32]"]
# Without a timeout wandb tries for about 97 s before giving up: a run that takes longer has not used it.
HANG_GUARD_SECONDS = 90


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def main_py_with_wandb_down(*overrides, output_root: Path) -> str:
    """`python main.py OVERRIDES` logging online to a wandb server that refuses connections; its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_BASE_URL": f"http://127.0.0.1:{closed_port()}",
           "WANDB_API_KEY": "0" * 40, "WANDB_MODE": "online", "WANDB_SILENT": "true"}
    done = subprocess.run([sys.executable, "main.py", *overrides, "logger=wandb", "logger.mode=online",
                           "logger.init_timeout=2", f"output_root={output_root}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD_SECONDS)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def records(output_root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (output_root / "runs").glob("*/result.json")]


def test_a_run_goes_on_without_an_unreachable_wandb_and_keeps_its_record(tmp_path):
    output = main_py_with_wandb_down(*TINY, output_root=tmp_path)
    [record] = records(tmp_path)
    assert record["status"] == "complete" and record["test_error"] is not None
    assert record["loggers"]["wandb"] is None
    assert len(record["loggers"]["errors"]) == 1 and "wandb.init failed" in record["loggers"]["errors"][0]
    assert output.count("wandb.init failed") == 1  # said once
    assert not list(tmp_path.rglob(WANDB_GIVEN_UP))  # a single run leaves no sweep marker


def test_a_sweep_stops_trying_wandb_after_its_first_failure(tmp_path):
    output = main_py_with_wandb_down("-m", *TINY, "seed=1,2,3", output_root=tmp_path)
    found = sorted(records(tmp_path), key=lambda r: r["seed"])
    assert [r["status"] for r in found] == ["complete"] * 3
    first, *rest = [r["loggers"]["errors"] for r in found]
    assert len(first) == 1 and "wandb.init failed" in first[0]
    assert all(len(errors) == 1 and errors[0].startswith("wandb skipped") for errors in rest)  # not tried again
    assert output.count("wandb.init failed") == 1 and output.count("the other runs of this sweep skip wandb") == 1
    [marker] = tmp_path.glob(f"multiruns/*/{WANDB_GIVEN_UP}")
    assert "could not start" in marker.read_text()


def test_parallel_workers_see_the_marker_of_the_sweep(tmp_path):
    output = main_py_with_wandb_down("-m", *TINY, "seed=1,2,3,4", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
                                     output_root=tmp_path)
    found = records(tmp_path)
    assert len(found) == 4 and all(r["status"] == "complete" for r in found)
    tried = [r for r in found if "wandb.init failed" in r["loggers"]["errors"][0]]
    skipped = [r for r in found if r["loggers"]["errors"][0].startswith("wandb skipped")]
    # each worker tries at most once: its next run starts after the marker is written
    assert 1 <= len(tried) <= 2 and len(tried) + len(skipped) == 4
    assert output.count("the other runs of this sweep skip wandb") == 1
