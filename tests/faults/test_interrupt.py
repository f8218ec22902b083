"""Ctrl-C (or SIGTERM, as `kill` and Slurm send) during a run: one line, the run recorded `interrupted`, exit 130
(143), and the next launch redoes it."""
import json
import os
import signal
import subprocess
import sys
import time

from conftest import REPO

# Long enough to be stopped mid-training: patience as large as the epoch budget, no early stop.
LONG_RUN = ["dataset=mnist5k_tiny", "train.epochs=500", "train.patience=500", "logger=none"]


def interrupt_mid_training(output_root, logs, signum=signal.SIGINT) -> tuple[int, str, str]:
    """Start a run, send `signum` once its record says running and an epoch was logged: (exit status, stdout, stderr)."""
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    stdout, stderr = logs.with_suffix(".out"), logs.with_suffix(".err")
    with open(stdout, "w") as out, open(stderr, "w") as err:
        process = subprocess.Popen([sys.executable, "main.py", *LONG_RUN, f"output_root={output_root}"],
                                   cwd=REPO, env=env, stdout=out, stderr=err, text=True)
        try:
            while not (running(output_root) and "train epoch" in stdout.read_text()):
                assert process.poll() is None, f"the run ended before it was interrupted:\n{stderr.read_text()}"
                time.sleep(0.2)
            process.send_signal(signum)
            status = process.wait(timeout=120)
        finally:
            process.kill()  # a no-op when it ended
    return status, stdout.read_text(), stderr.read_text()


def running(output_root) -> bool:
    return any(json.loads(p.read_text()).get("status") == "running" for p in output_root.glob("runs/*/result.json"))


def test_ctrl_c_records_the_run_interrupted_and_the_next_launch_redoes_it(tmp_path):
    output_root = tmp_path / "out"
    status, _, stderr = interrupt_mid_training(output_root, tmp_path / "first")
    (record_path,) = output_root.glob("runs/*/result.json")
    assert status == 130
    expected = f"interrupted: run stopped by Ctrl-C; recorded as interrupted in {record_path.parent}"
    assert stderr.strip().splitlines()[-1] == expected
    assert "Traceback" not in stderr
    assert json.loads(record_path.read_text())["status"] == "interrupted"

    status, stdout, _ = interrupt_mid_training(output_root, tmp_path / "second")
    assert status == 130
    assert "previous attempt (interrupted) moved to" in stdout  # redone, not skipped as finished
    assert json.loads((record_path.parent / "attempts" / "1" / "result.json").read_text())["status"] == "interrupted"


def test_sigterm_ends_a_run_as_ctrl_c_does_with_its_own_exit_status(tmp_path):
    status, _, stderr = interrupt_mid_training(tmp_path / "out", tmp_path / "run", signal.SIGTERM)
    (record_path,) = (tmp_path / "out").glob("runs/*/result.json")
    assert status == 143 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == \
        f"interrupted: run stopped by SIGTERM; recorded as interrupted in {record_path.parent}"
    assert json.loads(record_path.read_text())["status"] == "interrupted"
