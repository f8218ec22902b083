"""The theory experiments: shared closed forms against Monte Carlo, and each claim's quantities in the quick presets."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tasks.theory.hashed_landscape import indicator_moment
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


def test_teacher_student_labels_are_the_teacher():
    data = load_teacher_student(input_dim=6, width=50, train_size=20, val_size=5, test_size=5)
    teacher = make_teacher(6, 50)
    assert data.sizes() == {"train": 20, "val": 5, "test": 5} and data.input_shape == (6,)
    assert torch.allclose(data.test_y.double(), teacher(data.test_x.double()), atol=1e-5)


def run_theory(output_root, *overrides):
    return run_main("logger=none", *overrides, output_root=output_root, check=False)


TASKS = ("etf", "sketch_manifold", "hashed_recovery")


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Each task's quick preset, run once through main.py: (run directory, record)."""
    out = {}
    for task in TASKS:
        output_root = tmp_path_factory.mktemp(task)
        done = run_theory(output_root, f"experiment={task}_quick")
        assert done.returncode == 0, done.stderr
        [record] = result_records(output_root)
        out[task] = (Path(record["run_dir"]), record)
    return out


@pytest.mark.parametrize("task", TASKS)
def test_each_preset_writes_a_record_and_its_figure(records, task):
    run_dir, record = records[task]
    assert record["task"] == task and record["status"] == "complete"
    assert record["config"]["task"]["name"] == task and len(record["config_hash"]) == 16
    assert all((run_dir / name).stat().st_size > 0 for name in record["figures"])


def test_etf_gap_falls_with_teacher_width_to_zero_in_the_limit(records):
    """Amani et al.: the ETF is optimal for the large-N problem; at finite N its gap shrinks like 1/N."""
    record = records["etf"][1]
    s = record["summary"]
    assert s["etf_gap_N300"] > s["etf_gap_N3000"] > 0
    assert s["etf_gap_N3000"] < 0.03  # 1% measured
    assert s["etf_gap_slope_against_N"] < -0.6  # -0.86 measured; 1/N is -1
    assert abs(s["etf_gap_Nlimit"]) < 1e-6
    for point in record["teacher_width_sweep"][:-1]:  # orientation fitted from the snap: never worse than it
        assert all(r["etf_loss"] <= r["snapped_etf_loss"] + 1e-12 for r in point["replicates"])
    for cell in record["limit_sweep"]:
        for r in cell["replicates"]:
            assert abs(r["etf_gap"]) < 1e-6 and r["max_cosine_deviation"] < 1e-3
            assert min(r["orthogonal_gap"], r["random_gap"], r["mean_gap"]) > 0.5


def replicate_means(points, key):
    return [sum(r[key] for r in p["replicates"]) / len(p["replicates"]) for p in points]


def test_sketched_net_approximates_the_net_on_the_manifold_for_every_point(records):
    """Lin et al. (1): on the manifold the error falls with m, worst point included, for both fits, and does not
    grow with n; on Gaussian inputs it stays large."""
    record = records["sketch_manifold"][1]
    manifold, gaussian = record["sketch_size_sweep"]["manifold_k2"], record["sketch_size_sweep"]["gaussian"]
    for fit, mean_bound, worst_bound in (("least_squares", 0.03, 0.1), ("backprop", 0.05, 0.15)):
        means, worst = replicate_means(manifold, f"{fit}_mean"), replicate_means(manifold, f"{fit}_max")
        assert means[-1] < 0.5 * means[0] and means[-1] < mean_bound  # LS 0.013, back-prop 0.027 measured
        assert all(w >= m for w, m in zip(worst, means)) and worst[-1] < worst_bound  # LS 0.045, back-prop 0.076
        assert min(replicate_means(gaussian, f"{fit}_mean")) > 0.5
    assert record["summary"]["least_squares_slope_manifold_k2"] < -0.5
    over_n = replicate_means(record["input_dim_sweep"]["manifold_k2"], "least_squares_mean")
    assert max(over_n) < 2 * min(over_n) and max(over_n) < 0.06


def test_hashed_net_is_recovered_locally_and_from_finitely_many_samples(records):
    """Lin et al. (2): positive-definite Hessian at the teacher; linear convergence at the predicted rate; recovery
    from near starts; from n samples none below K, exact recovery well above it."""
    record = records["hashed_recovery"][1]
    s, k = record["summary"], record["config"]["hashed_recovery"]["num_buckets"]
    for replicate in record["replicates"]:
        for net, curve in replicate["descent"].items():
            assert curve["min_eigenvalue"] > 0.01
            assert curve["relative_errors"][-1] < 1e-8
            assert curve["observed_rate"] < curve["predicted_rate"] + 0.002  # linear, at least as fast as predicted
            # gradient descent follows the quadratic model of the loss at the teacher (ratios 0.9-1.13 measured)
            ratios = [e / q for e, q in zip(curve["relative_errors"], curve["quadratic_model_errors"])]
            assert 0.8 < min(ratios) and max(ratios) < 1.25
        for net, points in replicate["samples"].items():
            few, many = points[0], points[-1]
            assert few["samples"] < k and few["min_eigenvalue"] < 1e-9 and few["final_error"] > 1e-2
            assert many["final_error"] < 1e-6
            assert many["min_eigenvalue"] == pytest.approx(replicate["descent"][net]["min_eigenvalue"], rel=0.5)
    assert s["hashed_recovered_from_0.1"] == 1 and s["dense_recovered_from_0.1"] == 1


def test_report_sections_cover_theory_tasks_and_ignore_others(records, tmp_path):
    theory = [record for _, record in records.values()]
    sections = report_sections(theory + [{"task": "compress", "status": "complete"}, {"method": "dense"}], tmp_path)
    assert [s["title"].split(":")[0] for s in sections] == [  # in the order of their tasks' config files
        "Two-layer compression", "One-hidden-layer HashedNets", "Sketched networks on manifolds (Lin, Song and Yang)"]
    for section in sections:
        assert section["markdown"].count("|") > 10 and "±" in section["markdown"]
        assert all(path.exists() and path.parent == tmp_path for path in section["figures"])


def test_report_cli_writes_markdown_and_html(records, tmp_path):
    results_dir = records["hashed_recovery"][0]
    done = subprocess.run([sys.executable, "-m", "reports.theory", str(results_dir), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "HashedNets" in (tmp_path / "theory.md").read_text()
    assert "<img" in (tmp_path / "theory.html").read_text()


@pytest.mark.parametrize("overrides, named", [
    (["task=nope"], "task='nope' is unknown"),
    (["experiment=hashed_recovery", "hashed_recovery.num_buckets=1000"], "num_buckets=1000"),
    (["experiment=etf", "etf.student_width=1"], "student_width=1"),
    (["experiment=etf", "etf.teacher_widths=[0]"], "teacher_widths=[0]"),
    (["experiment=sketch_manifold", "sketch_manifold.fixed_sketch_size=2000"], "fixed_sketch_size=2000"),
    (["experiment=hashed_recovery", "hashed_recovery.start_distances=[0]"], "start_distances=[0]"),
    (["experiment=etf", "etf.replicates=abc"], "etf.replicates='abc' must be a positive integer"),
])
def test_bad_input_is_one_error_line(tmp_path, overrides, named):
    done = run_theory(tmp_path, *overrides)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error:") and named in done.stderr
    assert not (tmp_path / "runs").exists()  # refused before any run directory is claimed


def test_compress_refuses_the_regression_set(tmp_path):
    done = run_theory(tmp_path, "dataset=teacher_student", "dataset.width=10")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error:") and "regression" in done.stderr
