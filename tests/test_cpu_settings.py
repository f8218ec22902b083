"""How a run uses the CPU (bench/machine/cpu.py): threads per launcher job, flushed denormals."""
import os
import subprocess
import sys
import types
from pathlib import Path

import numba
import numpy as np
import pytest
import torch

import bench.machine.cpu
from bench.machine.cpu import configure_cpu, thread_count
from bench.errors import UserError
from bench.training.trainer import Trainer
from conftest import result_records, run_main
from datasets.mnist5k import load_mnist5k
from models.mlp import MLP

ROOT = Path(__file__).resolve().parents[1]
DENORMAL = np.float32(1e-39)  # below float32's smallest normal number, 1.18e-38


@pytest.fixture(autouse=True)
def restore_cpu_settings():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    torch.set_flush_denormal(False)


def fake_launcher(monkeypatch, cores: int, launcher: dict | None):
    """Pretend to run in a Hydra job under `launcher` (its config node) on `cores` cores."""
    hydra = types.SimpleNamespace(initialized=lambda: launcher is not None,
                                  get=lambda: types.SimpleNamespace(launcher=launcher))
    monkeypatch.setattr(bench.machine.cpu, "HydraConfig", hydra)
    monkeypatch.setattr(bench.machine.cpu, "usable_cores", lambda: cores)


@pytest.mark.parametrize("launcher, threads", [
    (None, 8),                      # no Hydra job: one process
    ({"_target_": "basic"}, 8),     # the basic launcher: one run at a time
    ({"n_jobs": 2}, 4),
    ({"n_jobs": -1}, 1),            # joblib: one job per core
    ({"n_jobs": -3}, 1),            # cores + 1 - 3 = 6 jobs
    ({"n_jobs": 3}, 2),
    ({"n_jobs": 1000}, 1),          # capped at the cores by the parallel launcher: 8 jobs
])
def test_auto_threads_share_the_cores_among_the_launchers_concurrent_jobs(monkeypatch, launcher, threads):
    fake_launcher(monkeypatch, cores=8, launcher=launcher)
    count, source = thread_count("auto")
    assert count == threads and "8 cores" in source


def test_more_threads_than_cores_are_capped_and_the_reason_kept(monkeypatch):
    fake_launcher(monkeypatch, cores=2, launcher=None)
    assert thread_count(1000) == (2, "threads=1000: more than the 2 usable cores; using 2")
    assert thread_count(2) == (2, "threads option")


def test_auto_threads_take_a_slurm_jobs_cpus_per_task(monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert bench.machine.cpu.usable_cores() == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "")
    assert bench.machine.cpu.usable_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("value", [0, -2, "many", 1.5, True])
def test_a_bad_thread_count_is_the_users_error(value):
    with pytest.raises(UserError, match=f"threads={value!r}.*auto or a positive integer"):
        thread_count(value)


def test_configure_sets_torch_and_numba_threads_and_flushing():
    settings = configure_cpu(1, flush_denormal=True)
    assert torch.get_num_threads() == 1 and numba.get_num_threads() == settings["numba_threads"] == 1
    assert settings["flush_denormal"] and torch.tensor([DENORMAL]).mul(1.0).item() == 0.0
    settings = configure_cpu(1, flush_denormal=False)
    assert not settings["flush_denormal"] and torch.tensor([DENORMAL]).mul(1.0).item() != 0.0


# Run in a fresh process, as a run sets flushing before its kernels start numba's thread pool. (In a
# process whose pool threads have flushed once, turning flushing off again does not reach them.)
FLUSH_IN_KERNELS = """
import sys
import numba, numpy as np
from bench.machine.cpu import configure_cpu

@numba.njit(parallel=sys.argv[1] == "parallel")
def halve(values):
    out = np.empty_like(values)
    for i in numba.prange(values.size):
        out[i] = values[i] * np.float32(0.5)
    return out

values = np.full(10_000, np.float32(1e-39))
configure_cpu(2, flush_denormal=False)
kept = bool(np.all(halve(values) != 0))
configure_cpu(2, flush_denormal=True)
flushed = bool(np.all(halve(values) == 0))
print(kept, flushed)
"""


@pytest.mark.parametrize("kernel", ["serial", "parallel"])
def test_torchs_flush_setting_reaches_numba_kernels_in_this_and_its_worker_threads(kernel):
    done = subprocess.run([sys.executable, "-c", FLUSH_IN_KERNELS, kernel], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "NUMBA_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]  # denormals kept without flushing, zeros with it


def test_flushing_denormals_leaves_training_equal_within_float_tolerance():
    data = load_mnist5k(train_per_class=30, val_per_class=10, test_per_class=10)
    results = []
    for flush in (False, True):
        configure_cpu(1, flush_denormal=flush)
        torch.manual_seed(1)
        model = MLP((1, 28, 28), 10, [1000], dropout_input=0.25, dropout_hidden=0.25)
        fit = Trainer(epochs=4, batch_size=50, lr=0.1, momentum=0.9, lr_decay=0.95, weight_decay=0.0,
                      patience=10, seed=1).fit(model, data)
        results.append(([h["train_loss"] for h in fit.history], [h["val_error"] for h in fit.history],
                        torch.cat([p.detach().flatten() for p in model.parameters()])))
    (loss_a, val_a, weights_a), (loss_b, val_b, weights_b) = results
    assert np.allclose(loss_a, loss_b, rtol=1e-5) and val_a == val_b
    assert torch.allclose(weights_a, weights_b, rtol=1e-4, atol=1e-6)


def test_a_run_records_its_threads_and_flushing_which_are_not_part_of_its_identity(tmp_path, tiny_run_args):
    run_main(*tiny_run_args, "threads=1", "flush_denormal=false", output_root=tmp_path / "a")
    run_main(*tiny_run_args, output_root=tmp_path / "b")
    [a], [b] = result_records(tmp_path / "a"), result_records(tmp_path / "b")
    assert a["cpu"]["threads"] == a["device"]["threads"] == 1 and a["cpu"]["threads_source"] == "threads option"
    assert not a["cpu"]["flush_denormal"] and b["cpu"]["flush_denormal"] == torch.set_flush_denormal(False)
    assert b["cpu"]["threads_source"].startswith("auto:")
    assert a["config_hash"] == b["config_hash"] and a["test_error"] == b["test_error"]


def test_a_bad_thread_count_ends_with_one_error_line_and_no_run(tmp_path, tiny_run_args):
    done = run_main(*tiny_run_args, "threads=0", output_root=tmp_path, check=False)
    assert done.returncode == 2 and done.stderr.strip() == "error: threads=0: allowed are auto or a positive integer"
    assert not result_records(tmp_path)
