"""The landscape of one-hidden-layer HashedNets around the teacher (Lin, Song and Yang 2019).

Teacher and student: f_theta(x) = sum_j relu(V_j(theta) . x), x ~ N(0, I_d), the hidden weights V the
virtual weights of a HashedLinear layer (no bias) over K stored buckets theta, output weights one.
A fully connected net is the same with one bucket per virtual weight and no signs (`dense_basis`).
On the closed-form population loss L(theta) = E[(f_theta(x) - f_teacher(x))^2]:
  * the Hessian at the teacher, H = 2 E[grad f grad f^T] (the residual is zero there), is assembled
    from G(u, v) = E[1{u.x>0} 1{v.x>0} x x^T]; positive definite means locally strongly convex;
  * gradient descent with step size 1/lambda_max(H) from a nearby start should converge linearly,
    at a rate close to 1 - lambda_min / lambda_max, to the teacher's buckets.
On n samples (x_i, f_teacher(x_i)) the empirical loss and its Hessian at the teacher, (2/n) J^T J.
"""
from __future__ import annotations

import math

import torch

from layers.hashed_linear import HashedLinear
from tasks.theory.optimize import minimize_lbfgs


def bucket_to_virtual_basis(input_dim: int, hidden: int, num_buckets: int, seed: int) -> torch.Tensor:
    """P (K, hidden, input_dim) with virtual weights V(theta) = sum_b theta_b P_b: P_b holds the signs of
    the weights a HashedLinear layer (no bias) hashes to bucket b. The layer's constant scale is left
    out (Lin et al.'s model has none; it would only scale the Hessian)."""
    codes = HashedLinear(input_dim, hidden, num_buckets, seed, layer=0, hash_bias=False).signed_codes().long()
    basis = torch.zeros(num_buckets, hidden * input_dim, dtype=torch.float64)
    basis[codes >> 1, torch.arange(len(codes))] = (1 - 2 * (codes & 1)).double()
    return basis.view(num_buckets, hidden, input_dim)


def dense_basis(input_dim: int, hidden: int) -> torch.Tensor:
    """The fully connected net in the same form: one parameter per virtual weight."""
    return torch.eye(hidden * input_dim, dtype=torch.float64).view(-1, hidden, input_dim)


def virtual_weights(buckets: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    return torch.einsum("b,bjd->jd", buckets, basis)


def kernel_grad_u(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """E[1{u.x>0} relu(v.x) x] = ((pi - t) v + |v| sin t u/|u|) / (2 pi), t the angle between u and v."""
    cos = (u @ v / (u.norm() * v.norm())).clamp(-1.0, 1.0)
    angle = torch.arccos(cos)
    return ((math.pi - angle) * v + v.norm() * torch.sin(angle) * u / u.norm()) / (2 * math.pi)


def indicator_moment(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """G(u, v) = E[1{u.x>0} 1{v.x>0} x x^T] (d, d): the v-Jacobian of kernel_grad_u; I/2 when u = v."""
    if torch.equal(u, v):
        return torch.eye(len(u), dtype=u.dtype) / 2
    return torch.autograd.functional.jacobian(lambda w: kernel_grad_u(u, w), v)


def hessian_at_teacher(teacher_buckets: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """H = 2 sum_{j,l} P_j^T G(V_j, V_l) P_l, P_j (d, K) mapping buckets to hidden unit j's weights."""
    v = virtual_weights(teacher_buckets, basis)
    per_unit = basis.permute(1, 2, 0)  # (hidden, d, K)
    hessian = torch.zeros(len(teacher_buckets), len(teacher_buckets), dtype=torch.float64)
    for j in range(len(v)):
        for l in range(len(v)):
            hessian += 2 * per_unit[j].T @ indicator_moment(v[j], v[l]) @ per_unit[l]
    return hessian


def kernel_grads(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """kernel_grad_u for every row u_j of u (P, d) summed over the rows v_l of v (Q, d): (P, d)."""
    u_norm, v_norm = u.norm(dim=1, keepdim=True), v.norm(dim=1)
    angle = torch.arccos(((u @ v.T) / (u_norm * v_norm)).clamp(-1.0, 1.0))  # (P, Q)
    return ((math.pi - angle) @ v + (torch.sin(angle) @ v_norm)[:, None] * u / u_norm) / (2 * math.pi)


def population_gradient(theta: torch.Tensor, teacher_v: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """The gradient of L(theta) = E[(sum_j relu(V_j.x) - sum_l relu(V*_l.x))^2] over the buckets, in closed form:
    dL/dV_j = 2 sum_l (kernel_grad_u(V_j, V_l) - kernel_grad_u(V_j, V*_l)) (the kernel is symmetric)."""
    v = virtual_weights(theta, basis)
    return torch.einsum("bjd,jd->b", basis, 2 * (kernel_grads(v, v) - kernel_grads(v, teacher_v)))


def gradient_descent(start: torch.Tensor, teacher_buckets: torch.Tensor, basis: torch.Tensor, step: float,
                     max_iterations: int, stop_error: float) -> list[float]:
    """Relative parameter errors |theta_t - theta*| / |theta*| from t = 0 until below `stop_error`."""
    teacher_v = virtual_weights(teacher_buckets, basis)
    theta, scale = start.clone(), teacher_buckets.norm().item()
    errors = [(start - teacher_buckets).norm().item() / scale]
    for _ in range(max_iterations):
        if errors[-1] < stop_error:
            break
        theta -= step * population_gradient(theta, teacher_v, basis)
        errors.append((theta - teacher_buckets).norm().item() / scale)
    return errors


def observed_rate(errors: list[float]) -> float:
    """Geometric-mean contraction per step over the second half of the run."""
    half = errors[len(errors) // 2:]
    return (half[-1] / half[0]) ** (1 / max(len(half) - 1, 1))


def net_outputs(x: torch.Tensor, buckets: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    return torch.relu(x @ virtual_weights(buckets, basis).T).sum(dim=1)


def empirical_hessian(x: torch.Tensor, teacher_buckets: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """(2/n) J^T J at the teacher (the residual is zero there), J_i = sum_j 1{V_j.x_i > 0} P_j^T x_i."""
    active = (x @ virtual_weights(teacher_buckets, basis).T > 0).double()  # (n, hidden)
    jacobian = torch.einsum("nj,nd,bjd->nb", active, x, basis)
    return 2 * jacobian.T @ jacobian / len(x)


def fit_samples(x: torch.Tensor, teacher_buckets: torch.Tensor, basis: torch.Tensor, start: torch.Tensor,
                max_iterations: int) -> float:
    """Minimise the empirical squared loss on the samples (noiseless teacher labels) from `start` by L-BFGS;
    the relative parameter error |theta - theta*| / |theta*| reached."""
    labels = net_outputs(x, teacher_buckets, basis)
    theta = start.clone().requires_grad_()
    minimize_lbfgs([theta], lambda: (net_outputs(x, theta, basis) - labels).pow(2).mean(), max_iterations)
    return ((theta.detach() - teacher_buckets).norm() / teacher_buckets.norm()).item()
