"""task=etf (Amani et al.): the large-N limit's closed form, the frames, and the conjecture's quantities."""
from __future__ import annotations

import math

import pytest
import torch

from datasets.teacher_student import make_teacher
from tasks.theory.etf import limit_loss, limit_point, with_gaps
from tasks.theory.frames import etf_coordinates, etf_directions, nearest_orientation, perpendicular_cosines
from tasks.theory.mean_field import MeanFieldTeacher
from tasks.theory.relu_kernel import cross_moment

TEACHER = {"mean_norm": 1.0, "weight_std": 1.0, "out_mean": 1.0, "out_std": 0.0}


def limit_teacher_at(x: torch.Tensor, mean: torch.Tensor, std: float) -> torch.Tensor:
    """E_w[relu(w.x)] for w ~ N(mean, std^2 I): w.x ~ N(mean.x, std^2 |x|^2), a Gaussian's positive part."""
    centre, spread = x @ mean, std * x.norm(dim=1)
    normal = torch.distributions.Normal(0.0, 1.0)
    ratio = centre / spread
    return centre * normal.cdf(ratio) + spread * normal.log_prob(ratio).exp()


def test_large_n_limit_matches_monte_carlo_over_inputs():
    """The quadrature's E[g f] and E[f^2] against sampled inputs and the limit teacher's closed form at each."""
    d = 8  # small d: a wrong chi-square degree of freedom would be off by several per cent
    limit = MeanFieldTeacher(d, 1.0, 1.0, 1.0)
    mean = torch.zeros(d, dtype=torch.float64)
    mean[0] = 1.0
    gen = torch.Generator().manual_seed(0)
    student = torch.randn(3, d, generator=gen, dtype=torch.float64)
    student[1] = 0.7 * mean + 0.2 * student[1]
    out = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    x = torch.randn(2_000_000, d, generator=gen, dtype=torch.float64)
    f = limit_teacher_at(x, mean, 1 / math.sqrt(d))
    g = torch.relu(x @ student.T) @ out
    assert limit.cross(student, out, mean).item() == pytest.approx((g * f).mean().item(), rel=5e-3)
    assert limit.energy == pytest.approx((f * f).mean().item(), rel=5e-3)


def test_a_wide_finite_teacher_approaches_the_limit():
    teacher = make_teacher(10, 50_000, seed=1, **TEACHER)
    limit = MeanFieldTeacher(10, 1.0, 1.0, 1.0)
    student = torch.randn(4, 10, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = torch.full((4,), 0.25, dtype=torch.float64)
    finite = cross_moment(teacher.weights, teacher.output_weights, student, out).item()
    assert limit.cross(student, out, teacher.mean_direction).item() == pytest.approx(finite, rel=5e-3)


def test_etf_directions_are_an_equiangular_frame_orthogonal_to_the_mean():
    mean = torch.zeros(8, dtype=torch.float64)
    mean[0] = 1
    frame = etf_directions(4, 8, mean, torch.Generator().manual_seed(0))
    cosines = frame @ frame.T
    off = cosines[~torch.eye(4, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, -1 / 3))
    assert torch.allclose(cosines.diagonal(), torch.ones(4, dtype=torch.float64))
    assert (frame @ mean).abs().max() < 1e-12


def test_snapping_a_perturbed_frame_recovers_the_exact_one():
    mean = torch.zeros(9, dtype=torch.float64)
    mean[0] = 1
    gen = torch.Generator().manual_seed(3)
    exact = etf_directions(4, 9, mean, gen)
    noisy = 2.0 * (exact + 0.02 * torch.randn(4, 9, generator=gen, dtype=torch.float64)) + 0.3 * mean
    snapped = etf_coordinates(4) @ nearest_orientation(etf_coordinates(4), noisy, mean).T
    assert (snapped - exact).norm(dim=1).max() < 0.1  # noise about 0.06 a row; another orientation: about 1
    off = perpendicular_cosines(snapped, mean)
    assert torch.allclose(off, torch.full_like(off, -1 / 3))


@pytest.mark.parametrize("student_width", [3, 4])
def test_in_the_large_n_limit_the_trained_student_is_the_etf(student_width):
    """The conjecture: the ETF (scale and tilt fitted) matches the best trained student to optimiser precision,
    the trained student's cosines are -1/(M-1), and every baseline is far worse."""
    loss = limit_loss(9, student_width, TEACHER)
    row = with_gaps(limit_point(loss, restarts=2, max_iterations=200, gen=torch.Generator().manual_seed(0)),
                    loss.energy)
    assert abs(row["etf_gap"]) < 1e-6
    assert row["max_cosine_deviation"] < 1e-3
    assert row["trained_loss_over_energy"] < 0.05  # the M nodes explain most of the teacher
    assert min(row["orthogonal_gap"], row["random_gap"], row["mean_gap"]) > 0.5
