"""`teacher_student`: a regression set labelled by a wide two-layer ReLU teacher.

Teacher f(x) = (1/N) sum_i a_i relu(w_i . x) with x ~ N(0, I_d), w_i ~ N(mu, (weight_std^2 / d) I_d),
|mu| = mean_norm along a seeded random direction, and a_i ~ N(out_mean, out_std^2). The `etf`
experiment uses the teacher itself (its population loss has a closed form); this loader gives
samples of it for users who want to train on data.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.errors import UserError
from bench.training.splits import Splits


@dataclass
class Teacher:
    weights: torch.Tensor  # (N, d) float64
    out: torch.Tensor  # (N,) the a_i, the 1/N not included
    mean_direction: torch.Tensor  # (d,) unit vector along mu

    @property
    def output_weights(self) -> torch.Tensor:
        """The a_i / N that multiply relu(w_i . x)."""
        return self.out / len(self.out)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x.to(self.weights.dtype) @ self.weights.T) @ self.output_weights


def make_teacher(input_dim: int, width: int, mean_norm: float = 1.0, weight_std: float = 1.0,
                 out_mean: float = 1.0, out_std: float = 0.0, seed: int = 0) -> Teacher:
    if input_dim < 1 or width < 1:
        raise UserError(f"teacher_student: input_dim={input_dim} and width={width} must be positive integers")
    if weight_std < 0 or out_std < 0 or mean_norm < 0:
        raise UserError(f"teacher_student: mean_norm={mean_norm}, weight_std={weight_std}, out_std={out_std} "
                        "must be >= 0")
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(input_dim, generator=gen, dtype=torch.float64)
    direction /= direction.norm()
    noise = torch.randn(width, input_dim, generator=gen, dtype=torch.float64) * (weight_std / input_dim ** 0.5)
    out = out_mean + out_std * torch.randn(width, generator=gen, dtype=torch.float64)
    return Teacher(mean_norm * direction + noise, out, direction)


@dataclass
class RegressionSplits(Splits):
    """Like DataSplits, for a real-valued target: x float32 (N, d), y float32 (N,)."""

    @property
    def num_classes(self) -> int:
        raise UserError(f"dataset={self.name} is a regression set (squared loss); task=compress needs a "
                        "labelled classification set (mnist, mnist5k, ...)")


def load_teacher_student(input_dim: int = 50, width: int = 5000, mean_norm: float = 1.0, weight_std: float = 1.0,
                         out_mean: float = 1.0, out_std: float = 0.0, teacher_seed: int = 0,
                         train_size: int = 10000, val_size: int = 2000, test_size: int = 2000,
                         sample_seed: int = 1) -> RegressionSplits:
    teacher = make_teacher(input_dim, width, mean_norm, weight_std, out_mean, out_std, teacher_seed)
    gen = torch.Generator().manual_seed(sample_seed)
    splits = []
    for size in (train_size, val_size, test_size):
        x = torch.randn(size, input_dim, generator=gen, dtype=torch.float64)
        splits += [x.float(), teacher(x).float()]
    return RegressionSplits("teacher_student", *splits, notes={
        "target": "f(x) = (1/N) sum_i a_i relu(w_i . x), x ~ N(0, I)", "width": width, "teacher_seed": teacher_seed})
