"""The installed package (pyproject.toml, install.sh): console commands from any folder, `--help`,
and the clone's folders kept out of other programs' imports."""
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent  # install.sh installs the commands into the environment running the tests
ENV = {**os.environ, "WANDB_SILENT": "true", "WANDB_MODE": "offline"}


def command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def test_commands_run_from_another_folder_and_write_there(tmp_path):
    # `cbench` and `cbench-leaderboard` from another folder: tests/test_readme.py runs the README's
    command("cbench-contact-sheet", "mnist5k_tiny", "--count", "4", "--out", "sheet.png", cwd=tmp_path)
    assert (tmp_path / "sheet.png").read_bytes()[:4] == b"\x89PNG"


def test_the_clone_is_not_importable_outside_its_commands(tmp_path):
    # `datasets` is Hugging Face's name: the install must not put the clone's folders on every import path
    probe = "import importlib.util as u; print([u.find_spec(m) is None for m in ('bench', 'datasets', 'methods')])"
    done = subprocess.run([sys.executable, "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.strip() == "[True, True, True]", done.stderr


def test_help_says_what_it_does_its_groups_and_options(tmp_path):
    text = command("cbench", "--help", cwd=tmp_path).stdout
    assert "which neural-network compression method keeps the" in text
    groups = dict(line.strip().split(": ", 1) for line in text.splitlines()
                  if line.startswith("  ") and ": " in line and "=" not in line)
    assert "hashednets" in groups["method"].split(", ") and "mnist5k" in groups["dataset"].split(", ")
    assert "parallel" in groups["hydra/launcher"].split(", ")
    assert "search_space" not in text  # an internal group, chosen by each method's config
    for option in ("ratio=1/8", "train.epochs=50", "output_root=outputs", "data_root=data"):
        assert option in text
    assert subprocess.run([sys.executable, "main.py", "--help"], cwd=REPO, capture_output=True, text=True).stdout == text
