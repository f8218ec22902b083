"""Every command on the README's front page still runs: the cheap ones for real, from another
folder as the README says; a long run or sweep is composed (`--cfg job`) to check its every
override, without training."""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent
ENV = {**os.environ, "WANDB_SILENT": "true", "WANDB_MODE": "offline"}
CHEAP = ("--help", "dataset=mnist5k_tiny")  # runs that take seconds
SETUP = ("./run.sh", "./test.sh", "source ")  # the set-up the tests themselves run under


def readme_commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith(SETUP)]


def composed(args: list[str]) -> list[str]:
    """The run a command starts with: the first value of each sweep list, and `--cfg job` instead of `-m`."""
    first = [re.sub(r"^([^=(\[]+=)([^,(\[]+),.*$", r"\1\2", arg) for arg in args if arg != "-m"]
    return [*first, "--cfg", "job"]


def test_every_readme_command_runs(tmp_path):
    commands = readme_commands()
    assert [c[0] for c in commands] == ["cbench"] * 7 + ["cbench-leaderboard"]  # the front page as written
    for command in sorted(commands, key=lambda c: c[0] == "cbench-leaderboard"):  # the report reads the runs
        cheap = command[0] == "cbench-leaderboard" or any(arg in CHEAP for arg in command)
        args = command if cheap else [command[0], *composed(command[1:])]
        done = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=tmp_path, env=ENV, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    # written where the commands ran, as the README says
    assert [json.loads(p.read_text())["status"] for p in tmp_path.glob("outputs/runs/*/result.json")] == ["complete"]
    assert (tmp_path / "leaderboard" / "index.html").is_file()
