"""The M-node students of `task=etf` and how each is fitted to a teacher's population loss.

A student has M hidden units v_j and output weights 1/M (their scale is absorbed by the ReLU's
positive homogeneity). The teacher is a finite wide net of N units or its large-N limit; either way
the loss is closed form (no sampling noise). Every fit is L-BFGS to near machine precision.
"""
from __future__ import annotations

import math

import torch

from datasets.teacher_student import Teacher
from tasks.theory.frames import rotation_fixing
from tasks.theory.mean_field import MeanFieldTeacher
from tasks.theory.optimize import minimize_lbfgs
from tasks.theory.relu_kernel import population_loss, self_moment


class FiniteTeacherLoss:
    """E[(g - f)^2] against a finite teacher f of N units."""

    def __init__(self, teacher: Teacher, student_width: int):
        self.teacher, self.m, self.mean_direction = teacher, student_width, teacher.mean_direction
        self.student_out = torch.full((student_width,), 1.0 / student_width, dtype=torch.float64)
        self.energy = self_moment(teacher.weights, teacher.output_weights).item()

    def __call__(self, student: torch.Tensor) -> torch.Tensor:
        t = self.teacher
        return population_loss(student, self.student_out, t.weights, t.output_weights, torch.tensor(self.energy))


class LimitTeacherLoss:
    """E[(g - f)^2] against the teacher's large-N limit (Amani et al.'s simplified problem)."""

    def __init__(self, limit: MeanFieldTeacher, mean_direction: torch.Tensor, student_width: int):
        self.limit, self.m, self.mean_direction = limit, student_width, mean_direction
        self.student_out = torch.full((student_width,), 1.0 / student_width, dtype=torch.float64)
        self.energy = limit.energy

    def __call__(self, student: torch.Tensor) -> torch.Tensor:
        return self.limit.loss(student, self.student_out, self.mean_direction)


def train_student(loss, gen: torch.Generator, max_iterations: int) -> tuple[float, torch.Tensor]:
    """A freely trained student from a random start: (its loss, its hidden weights (M, d))."""
    d = len(loss.mean_direction)
    student = (torch.randn(loss.m, d, generator=gen, dtype=torch.float64) / math.sqrt(d)).requires_grad_()
    final = minimize_lbfgs([student], lambda: loss(student), max_iterations)
    return final, student.detach()


def fit_frame(loss, directions: torch.Tensor | None, max_iterations: int, fit_orientation: bool = False) -> float:
    """The student scale * (cos(tilt) mu + sin(tilt) R u_j), u_j the rows of `directions` (orthogonal to the
    mean mu), scale and tilt fitted; R a rotation fixing mu, fitted too when `fit_orientation`, else the
    identity. `directions=None`: every unit on the mean (tilt 0), only the scale fitted."""
    mean = loss.mean_direction
    log_scale = torch.zeros((), dtype=torch.float64, requires_grad=True)
    if directions is None:
        return minimize_lbfgs([log_scale], lambda: loss(log_scale.exp() * mean.expand(loss.m, -1)), max_iterations)
    tilt = torch.tensor(math.pi / 4, dtype=torch.float64, requires_grad=True)  # angle away from the mean
    rotation = torch.zeros(len(mean), len(mean), dtype=torch.float64, requires_grad=fit_orientation)

    def student():
        rotated = directions @ rotation_fixing(mean, rotation).T if fit_orientation else directions
        return log_scale.exp() * (tilt.cos() * mean + tilt.sin() * rotated)

    params = [log_scale, tilt] + ([rotation] if fit_orientation else [])
    return minimize_lbfgs(params, lambda: loss(student()), max_iterations)
