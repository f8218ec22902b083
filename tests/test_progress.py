"""Progress bars: on a terminal, over a sweep's runs and a run's epochs; in captured output (CI,
Slurm logs) none, the log lines as before."""
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from conftest import REPO

ENV = {**os.environ, "WANDB_SILENT": "true", "WANDB_MODE": "offline"}


def in_terminal(args: list[str]) -> str:
    """Everything the command writes to a pseudo-terminal."""
    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # 40 rows, 160 columns
    process = subprocess.Popen(args, cwd=REPO, env=ENV, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the command has ended and closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert process.wait(timeout=600) == 0, output.decode(errors="replace")
    return output.decode(errors="replace")


def test_bars_on_a_terminal_only(tmp_path):
    sweep = [sys.executable, "main.py", "-m", "method=nn", "seed=1,2", "dataset=mnist5k_tiny", "train.epochs=2",
             "logger=none", f"output_root={tmp_path}"]
    shown = in_terminal(sweep)
    assert "sweep: 100%" in shown and "2/2" in shown and "2 complete" in shown
    assert "nn 1/8 train:" in shown and "epoch/s, val " in shown  # the run's epochs, with its validation error
    assert "train epoch   2/2" in shown  # the log lines stay

    logged = subprocess.run(sweep, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert logged.returncode == 0 and "skipping" in logged.stdout
    assert "sweep:" not in logged.stdout + logged.stderr and "\r" not in logged.stdout + logged.stderr

    assert "2 skipped" in in_terminal(sweep)
