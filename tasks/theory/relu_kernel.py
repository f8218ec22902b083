"""The closed-form ReLU kernel for Gaussian inputs, and population losses built from it.

For x ~ N(0, I): E[relu(u.x) relu(v.x)] = |u||v| (sin t + (pi - t) cos t) / (2 pi), t the angle
between u and v. Written as |u||v| h(cos t) / (2 pi) with h(c) = sqrt(1 - c^2) + (pi - arccos c) c,
whose derivative is simply pi - arccos c: a custom backward uses that form, so gradients stay
finite when u and v are parallel (a student unit on its teacher, or a unit with itself).
"""
from __future__ import annotations

import math

import torch


class _AngularPart(torch.autograd.Function):
    """h(c) = sqrt(1 - c^2) + (pi - arccos c) c, with h'(c) = pi - arccos c."""

    @staticmethod
    def forward(ctx, c):
        c = c.clamp(-1.0, 1.0)
        ctx.save_for_backward(c)
        return torch.sqrt(1 - c * c) + (math.pi - torch.arccos(c)) * c

    @staticmethod
    def backward(ctx, grad):
        (c,) = ctx.saved_tensors
        return grad * (math.pi - torch.arccos(c))


def relu_kernel(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """E[relu(u_i.x) relu(v_j.x)] for all rows u_i of u (P, d) and v_j of v (Q, d): (P, Q)."""
    u_norm, v_norm = u.norm(dim=1), v.norm(dim=1)
    cosine = (u @ v.T) / (u_norm[:, None] * v_norm[None, :])
    return u_norm[:, None] * v_norm[None, :] * _AngularPart.apply(cosine) / (2 * math.pi)


def cross_moment(u: torch.Tensor, a: torch.Tensor, v: torch.Tensor, b: torch.Tensor,
                 chunk: int = 2048) -> torch.Tensor:
    """E[(sum_i a_i relu(u_i.x)) (sum_j b_j relu(v_j.x))], in row chunks of u to bound memory."""
    total = u.new_zeros(())
    for start in range(0, len(u), chunk):
        total = total + a[start:start + chunk] @ relu_kernel(u[start:start + chunk], v) @ b
    return total


def population_loss(student_w: torch.Tensor, student_a: torch.Tensor, teacher_w: torch.Tensor,
                    teacher_a: torch.Tensor, teacher_energy: torch.Tensor | None = None) -> torch.Tensor:
    """E[(g(x) - f(x))^2] for two-layer ReLU nets g = sum_j b_j relu(v_j.x), f likewise.

    `teacher_energy` = E[f^2] may be passed in: it does not depend on the student and costs
    O(N^2) kernel entries for a teacher of width N.
    """
    if teacher_energy is None:
        teacher_energy = cross_moment(teacher_w, teacher_a, teacher_w, teacher_a)
    student_energy = student_a @ relu_kernel(student_w, student_w) @ student_a
    return student_energy - 2 * cross_moment(teacher_w, teacher_a, student_w, student_a) + teacher_energy


def self_moment(w: torch.Tensor, a: torch.Tensor, block: int = 1024) -> torch.Tensor:
    """E[f^2] for f = sum_i a_i relu(w_i.x): the kernel matrix's quadratic form, by square blocks, each pair of
    blocks once (the matrix is symmetric); O(N^2) kernel entries in memory of O(block^2)."""
    starts = range(0, len(w), block)
    total = w.new_zeros(())
    for i in starts:
        for j in starts:
            if j >= i:
                part = a[i:i + block] @ relu_kernel(w[i:i + block], w[j:j + block]) @ a[j:j + block]
                total = total + (part if i == j else 2 * part)
    return total
