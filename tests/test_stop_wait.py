"""What a stopped sweep's launcher waits for: the run locks its workers (and their children) hold."""
import os
import subprocess
import sys
import time

from bench.launch.orphans import descendant_processes, held_run_locks
from bench.run.resume import claim_run_dir
from conftest import compose_config


def test_a_claimed_run_holds_its_lock_until_it_is_recorded(tmp_path):
    slot = claim_run_dir(compose_config("method=nn", f"output_root={tmp_path}"), {"method": "nn"})
    assert held_run_locks(os.getpid()) == {str(slot.dir / ".lock")}
    slot.close(KeyboardInterrupt())
    assert held_run_locks(os.getpid()) == set()


def test_the_launcher_sees_its_workers_children_too():
    sleeper = "import time; time.sleep(60)"
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys; "
                               f"subprocess.Popen([sys.executable, '-c', {sleeper!r}]).wait()"])
    grandchildren: set[int] = set()
    try:
        deadline = time.monotonic() + 30
        while not grandchildren and time.monotonic() < deadline:
            time.sleep(0.05)
            grandchildren = set(descendant_processes()) - {parent.pid}
        assert parent.pid in descendant_processes() and len(grandchildren) == 1
    finally:
        for pid in [*grandchildren, parent.pid]:  # only what this test started
            os.kill(pid, 9)
        parent.wait()
