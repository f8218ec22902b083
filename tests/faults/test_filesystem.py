"""When the file system says no (read-only, full, immutable), a run ends with one line
`error: cannot write PATH: reason`, exit 2, and nothing half-written is recorded complete.
Outputs are readable by whoever the user's umask lets read them."""
import json
import os
import stat
import subprocess

import pytest

from bench.storage.files import write_json_atomically
from conftest import result_records, run_main

FAST = ["dataset=mnist5k_tiny", "train.epochs=1", "logger=none"]


def mount_tmpfs(path, options: str):
    """Mount a tmpfs at `path`; skip the test where this machine does not let us (needs root)."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'})")
    return path


@pytest.fixture
def mounts(tmp_path):
    mounted = []

    def mount(name: str, options: str):
        mounted.append(mount_tmpfs(tmp_path / name, options))
        return mounted[-1]

    yield mount
    for path in mounted:
        subprocess.run(["umount", str(path)], check=True)


def assert_one_error_line(done, expected: str):
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == expected
    assert "Traceback" not in done.stderr


def test_a_read_only_output_root_is_one_line(mounts):
    read_only = mounts("ro", "ro,size=64k")
    done = run_main(*FAST, output_root=read_only, check=False)
    assert_one_error_line(done, f"error: cannot write {read_only}: Read-only file system (output_root='{read_only}')")


def test_a_full_disk_during_export_is_one_line_and_the_run_is_recorded_failed(mounts):
    small = mounts("small", "size=300k")  # room for the records and Hydra's log, not for the 400 kB checkpoint
    done = run_main(*FAST, output_root=small, check=False)
    (record,) = result_records(small)
    checkpoint = small / "runs" / record["config_hash"] / "model.pt"
    assert_one_error_line(done, f"error: cannot write {checkpoint}: No space left on device")
    assert record["status"] == "failed" and "No space left on device" in record["error"]
    assert not checkpoint.exists() and not list(checkpoint.parent.glob(".model.pt.*"))  # no half-written file


def test_an_immutable_run_directory_with_rerun_is_one_line_and_keeps_the_result(tmp_path):
    run_main(*FAST, output_root=tmp_path)
    (record,) = result_records(tmp_path)
    run_dir = tmp_path / "runs" / record["config_hash"]
    if subprocess.run(["chattr", "+i", str(run_dir)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not possible here (needs root and a file system with the flag)")
    try:
        done = run_main(*FAST, "rerun=true", output_root=tmp_path, check=False)
    finally:
        subprocess.run(["chattr", "-i", str(run_dir)], check=True)
    assert_one_error_line(done, f"error: cannot write {run_dir / 'attempts'}: Operation not permitted")
    assert result_records(tmp_path) == [record]  # the complete result is untouched


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)], ids=["022", "002", "077"])
def test_outputs_are_created_with_the_users_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_json_atomically(tmp_path / "result.json", {"status": "complete"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "result.json").stat().st_mode) == mode
    assert json.loads((tmp_path / "result.json").read_text()) == {"status": "complete"}
