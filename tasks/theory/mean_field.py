"""The wide teacher's large-N limit: f(x) = E_{a,w}[a relu(w.x)], w ~ N(mu, s^2 I_d), s = weight_std / sqrt(d).

Amani et al.'s simplified (mean-field) problem: as N grows, the finite teacher's population loss
differs from E[(g - f)^2] for this limit only by a constant of order 1/N, so its minimisers
converge. By symmetry, E_w[relu kernel(v, w)] depends on v only through |v| and c = v/|v| . mu:

    E_w k(v, w) = |v| F(c) / (2 pi),   F(c) = E[q + (pi - atan2(q, p)) p],

p = v/|v| . w = c + s z1 and q = |w - p v/|v||, with q^2 = (r + s z2)^2 + s^2 R, r = sqrt(|mu|^2 - c^2),
z1, z2 ~ N(0, 1) and R ~ chi^2 with d - 2 degrees of freedom. F is computed by Gauss quadrature
(Hermite for z1, z2; generalised Laguerre for R), differentiable in c.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import roots_genlaguerre

from tasks.theory.relu_kernel import relu_kernel

HERMITE_NODES, LAGUERRE_NODES = 24, 12  # F to about 1e-11 relative for d = 20 to 100 (checked against 48, 24)


def _normal_rule(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights of E[f(z)], z ~ N(0, 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(count)
    return torch.from_numpy(nodes), torch.from_numpy(weights / weights.sum())


def _chi_square_rule(dof: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights of E[f(R)], R ~ chi^2 with `dof` >= 1 degrees of freedom (R / 2 ~ Gamma(dof / 2))."""
    nodes, weights = roots_genlaguerre(count, dof / 2 - 1)
    return torch.from_numpy(2 * nodes), torch.from_numpy(weights / weights.sum())


class MeanFieldTeacher:
    """The limit teacher for `input_dim` = d >= 3, `mean_norm` = |mu| > 0, weight_std, out_mean."""

    def __init__(self, input_dim: int, mean_norm: float, weight_std: float, out_mean: float):
        self.mean_norm, self.out_mean = mean_norm, out_mean
        self.std = weight_std / math.sqrt(input_dim)
        z, wz = _normal_rule(HERMITE_NODES)
        chi, wchi = _chi_square_rule(input_dim - 2, LAGUERRE_NODES)
        # the grid (z1, z2, R) and its weights, flattened: F(c) is one weighted sum over it
        self._z1, self._z2, self._chi = (t.reshape(-1) for t in torch.meshgrid(z, z, chi, indexing="ij"))
        self._weights = (wz[:, None, None] * wz[None, :, None] * wchi[None, None, :]).reshape(-1)
        self.energy = self._energy(input_dim)

    def angular_mean(self, c: torch.Tensor) -> torch.Tensor:
        """F(c) for a tensor of cosines-times-|mu| c (any shape), |c| <= |mu|."""
        s = self.std
        r = torch.sqrt((self.mean_norm ** 2 - c * c).clamp(min=1e-30))[..., None]
        p = c[..., None] + s * self._z1
        q = torch.sqrt((r + s * self._z2) ** 2 + s * s * self._chi)
        return (q + (math.pi - torch.atan2(q, p)) * p) @ self._weights

    def cross(self, student_w: torch.Tensor, student_a: torch.Tensor, mean_direction: torch.Tensor) -> torch.Tensor:
        """E[g f] for the student g = sum_j b_j relu(v_j.x) (v_j the rows of student_w, b_j of student_a)."""
        norms = student_w.norm(dim=1)
        c = self.mean_norm * (student_w @ mean_direction) / norms
        return self.out_mean * student_a @ (norms * self.angular_mean(c)) / (2 * math.pi)

    def _energy(self, input_dim: int) -> float:
        """E[f^2] = out_mean^2 E_w[|w| F(w/|w| . mu)] / (2 pi), w = mu + s z: |w|^2 = (|mu| + s y)^2 + s^2 R'."""
        y, wy = _normal_rule(HERMITE_NODES)
        chi, wchi = _chi_square_rule(input_dim - 1, LAGUERRE_NODES)
        along = self.mean_norm + self.std * y[:, None]
        norm = torch.sqrt(along ** 2 + self.std ** 2 * chi[None, :])
        inner = self.angular_mean(self.mean_norm * along / norm)
        return (self.out_mean ** 2 * (wy[:, None] * wchi[None, :] * norm * inner).sum() / (2 * math.pi)).item()

    def loss(self, student_w: torch.Tensor, student_a: torch.Tensor, mean_direction: torch.Tensor) -> torch.Tensor:
        """E[(g - f)^2] for the student g."""
        student_energy = student_a @ relu_kernel(student_w, student_w) @ student_a
        return student_energy - 2 * self.cross(student_w, student_a, mean_direction) + self.energy
