"""The theory experiments on small sizes: closed forms against Monte Carlo, and the qualitative outcomes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tasks.theory.etf import compare_at_dim, etf_directions
from tasks.theory.hashed_recovery import indicator_moment
from tasks.theory.relu_kernel import relu_kernel
from datasets.teacher_student import load_teacher_student, make_teacher
from conftest import result_records, run_main
from reports.theory import report_sections


def gaussian(count, dim, seed):
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_relu_kernel_matches_monte_carlo():
    u, v = gaussian(4, 6, 0), gaussian(3, 6, 1)
    v[0] = 2 * u[0]  # parallel pair
    v[1] = -u[1]  # opposite pair: zero
    x = gaussian(400_000, 6, 2)
    estimate = torch.relu(x @ u.T).T @ torch.relu(x @ v.T) / len(x)
    assert torch.allclose(relu_kernel(u, v), estimate, rtol=0.03, atol=0.02)
    assert relu_kernel(u[:1], u[:1]).item() == pytest.approx(u[0].norm().item() ** 2 / 2)


def test_indicator_moment_matches_monte_carlo():
    u, v = gaussian(1, 5, 3)[0], gaussian(1, 5, 4)[0]
    x = gaussian(400_000, 5, 5)
    mask = ((x @ u > 0) & (x @ v > 0)).double()
    estimate = (x * mask[:, None]).T @ x / len(x)
    assert torch.allclose(indicator_moment(u, v), estimate, atol=0.01)
    assert torch.allclose(indicator_moment(u, u), torch.eye(5, dtype=torch.float64) / 2)


def test_etf_directions_are_an_equiangular_frame_orthogonal_to_the_mean():
    mean = torch.zeros(8, dtype=torch.float64)
    mean[0] = 1
    frame = etf_directions(4, 8, mean, torch.Generator().manual_seed(0))
    cosines = frame @ frame.T
    off = cosines[~torch.eye(4, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, -1 / 3))
    assert torch.allclose(cosines.diagonal(), torch.ones(4, dtype=torch.float64))
    assert (frame @ mean).abs().max() < 1e-12


def test_trained_student_is_close_to_the_etf():
    teacher = make_teacher(12, 400, mean_norm=1.0, seed=0)
    row = compare_at_dim(teacher, student_width=3, restarts=2, max_iterations=300, seed=1)
    assert abs(row["mean_cosine"] - (-0.5)) < 0.03
    assert row["trained_loss"] < 0.05 * row["teacher_energy"]  # both compress the teacher well...
    assert -0.01 < row["relative_gap"] < 0.5  # ...and the ETF is about as good as training


def test_teacher_student_labels_are_the_teacher():
    data = load_teacher_student(input_dim=6, width=50, train_size=20, val_size=5, test_size=5)
    teacher = make_teacher(6, 50)
    assert data.sizes() == {"train": 20, "val": 5, "test": 5} and data.input_shape == (6,)
    assert torch.allclose(data.test_y.double(), teacher(data.test_x.double()), atol=1e-5)


def run_theory(output_root, *overrides):
    return run_main("logger=none", *overrides, output_root=output_root, check=False)


SMALL = {
    "etf": ["experiment=etf", "etf.input_dims=[8,12]", "etf.student_width=3", "dataset.width=200",
            "etf.restarts=1", "etf.max_iterations=100"],
    "sketch_manifold": ["experiment=sketch_manifold", "sketch_manifold.input_dim=128", "sketch_manifold.hidden=[128]",
                        "sketch_manifold.sketch_sizes=[8,32,64]", "sketch_manifold.fit_points=600",
                        "sketch_manifold.eval_points=200", "sketch_manifold.manifold_dims=[2]"],
    "hashed_recovery": ["experiment=hashed_recovery", "hashed_recovery.input_dim=10", "hashed_recovery.hidden=3",
                        "hashed_recovery.num_buckets=12"],
}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = {}
    for task, overrides in SMALL.items():
        output_root = tmp_path_factory.mktemp(task)
        done = run_theory(output_root, *overrides)
        assert done.returncode == 0, done.stderr
        [record] = result_records(output_root)
        out[task] = (Path(record["run_dir"]), record)
    return out


@pytest.mark.parametrize("task", SMALL)
def test_each_preset_writes_a_record_and_its_figure(records, task):
    run_dir, record = records[task]
    assert record["task"] == task and record["status"] == "complete"
    assert record["config"]["task"]["name"] == task and len(record["config_hash"]) == 16
    assert all((run_dir / name).stat().st_size > 0 for name in record["figures"])


def test_sketched_net_is_far_better_on_the_manifold(records):
    curves = records["sketch_manifold"][1]["curves"]
    manifold, full = curves["manifold_k2"]["fitted"], curves["gaussian"]["fitted"]
    assert manifold[-1] < manifold[0]  # falls with m
    assert manifold[-1] < 0.3 * full[-1]  # far lower than on full-dimensional inputs
    assert curves["gaussian"]["oblivious"][-1] < curves["gaussian"]["oblivious"][0]


def test_hashed_net_hessian_is_positive_definite_and_descent_is_linear(records):
    record = records["hashed_recovery"][1]
    assert record["hessian_positive_definite"] and record["summary"]["hessian_min_eigenvalue"] > 0
    assert record["reached_target"] and record["summary"]["final_relative_error"] < 1e-3
    assert record["summary"]["observed_rate"] == pytest.approx(record["summary"]["predicted_rate"], abs=0.01)


def test_report_sections_cover_theory_tasks_and_ignore_others(records, tmp_path):
    theory = [record for _, record in records.values()]
    sections = report_sections(theory + [{"task": "compress", "status": "complete"}, {"method": "dense"}], tmp_path)
    assert len(sections) == 3
    for section in sections:
        assert section["markdown"].count("|") > 10
        assert all(path.exists() and path.parent == tmp_path for path in section["figures"])


def test_report_cli_writes_markdown(records, tmp_path):
    results_dir = records["hashed_recovery"][0]
    done = subprocess.run([sys.executable, "-m", "reports.theory", str(results_dir), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "HashedNets" in (tmp_path / "theory.md").read_text()


@pytest.mark.parametrize("overrides, named", [
    (["task=nope"], "task='nope' is unknown"),
    (["experiment=hashed_recovery", "hashed_recovery.num_buckets=1000"], "num_buckets=1000"),
    (["experiment=etf", "etf.student_width=1"], "student_width=1"),
    (["dataset=teacher_student", "dataset.width=10"], "regression"),
])
def test_bad_input_is_one_error_line(tmp_path, overrides, named):
    done = run_theory(tmp_path, *overrides)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error:") and named in done.stderr
