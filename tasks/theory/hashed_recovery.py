"""`task=hashed_recovery`: the landscape of one-hidden-layer HashedNets near the teacher (Lin, Song and Yang 2019).

Teacher and student: f_theta(x) = sum_j relu(V_j(theta) . x), x ~ N(0, I_d), the hidden weights V the
virtual weights of a HashedLinear layer (no bias) over K stored buckets theta, output weights one.
Buckets that no virtual weight uses do not enter the function; they are reported and left out.
On the closed-form population loss L(theta) = E[(f_theta(x) - f_teacher(x))^2]:
  * the Hessian at the teacher, H = 2 E[grad f grad f^T] (the residual is zero there), is assembled
    from G(u, v) = E[1{u.x>0} 1{v.x>0} x x^T]; positive definite means locally strongly convex;
  * gradient descent with step size 1/lambda_max(H) from a nearby start should converge linearly,
    at a rate close to 1 - lambda_min / lambda_max, to the teacher's buckets.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from bench.errors import UserError
from tasks.theory.relu_kernel import population_loss
from tasks.theory.runs import finish_run, save_figure
from layers.hashed_linear import HashedLinear

log = logging.getLogger("bench")


def bucket_to_virtual_basis(input_dim: int, hidden: int, num_buckets: int, seed: int) -> torch.Tensor:
    """P (K, hidden, input_dim) with virtual weights V(theta) = sum_b theta_b P_b: P_b holds the signs of
    the weights a HashedLinear layer (no bias) hashes to bucket b. The layer's constant scale is left
    out (Lin et al.'s model has none; it would only scale the Hessian)."""
    codes = HashedLinear(input_dim, hidden, num_buckets, seed, layer=0, hash_bias=False).signed_codes().long()
    basis = torch.zeros(num_buckets, hidden * input_dim, dtype=torch.float64)
    basis[codes >> 1, torch.arange(len(codes))] = (1 - 2 * (codes & 1)).double()
    return basis.view(num_buckets, hidden, input_dim)


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


def gradient_descent(start: torch.Tensor, teacher_buckets: torch.Tensor, basis: torch.Tensor, step: float,
                     max_iterations: int, stop_error: float) -> list[float]:
    """Relative parameter errors |theta_t - theta*| / |theta*| from t = 0 until below `stop_error`."""
    ones = torch.ones(basis.shape[1], dtype=torch.float64)
    teacher_v = virtual_weights(teacher_buckets, basis)
    theta, scale = start.clone().requires_grad_(), teacher_buckets.norm().item()
    errors = [(start - teacher_buckets).norm().item() / scale]
    for _ in range(max_iterations):
        if errors[-1] < stop_error:
            break
        loss = population_loss(virtual_weights(theta, basis), ones, teacher_v, ones)
        (grad,) = torch.autograd.grad(loss, theta)
        with torch.no_grad():
            theta -= step * grad
        errors.append((theta.detach() - teacher_buckets).norm().item() / scale)
    return errors


def observed_rate(errors: list[float]) -> float:
    """Geometric-mean contraction per step over the second half of the run."""
    half = errors[len(errors) // 2:]
    return (half[-1] / half[0]) ** (1 / max(len(half) - 1, 1))


def plot(errors: list[float], eigenvalues: torch.Tensor, target: float, predicted_rate: float, path: Path) -> str:
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    left.semilogy(errors, label="gradient descent")
    left.semilogy([errors[0] * predicted_rate ** t for t in range(len(errors))], "k:",
                  label=f"(1 - lambda_min/lambda_max)^t = {predicted_rate:.4f}^t")
    left.axhline(target, color="red", ls="--", label=f"target {target:g}")
    left.set(xlabel="iteration", ylabel="|theta - theta*| / |theta*|", title="recovery of the teacher's buckets")
    left.legend(fontsize=8)
    right.semilogy(eigenvalues.numpy(), "o", ms=3)
    right.set(xlabel="index", ylabel="eigenvalue", title="Hessian at the teacher (buckets)")
    return save_figure(fig, path)


def run_hashed_recovery(cfg, output_dir: Path, start_record: dict) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(1)  # tiny tensors: threads cost more than they give
    s = cfg.hashed_recovery
    if not 1 <= s.num_buckets <= s.hidden * s.input_dim:
        raise UserError(f"hashed_recovery.num_buckets={s.num_buckets}: must be in [1, hidden * input_dim = "
                        f"{s.hidden * s.input_dim}] (no more buckets than virtual weights)")
    if s.start_distance <= 0 or s.step_size <= 0:
        raise UserError(f"hashed_recovery: start_distance={s.start_distance} and step_size={s.step_size} must be > 0")
    gen = torch.Generator().manual_seed(cfg.seed)
    basis = bucket_to_virtual_basis(s.input_dim, s.hidden, s.num_buckets, cfg.seed)
    used = basis.flatten(1).abs().sum(dim=1) > 0
    if not used.all():  # no virtual weight hashes there: the function ignores it, nothing to recover
        log.warning("hashed_recovery: %d of %d buckets are used by no virtual weight; they are left out",
                    int((~used).sum()), s.num_buckets)
    basis = basis[used]
    teacher = torch.randn(len(basis), generator=gen, dtype=torch.float64)
    eigenvalues = torch.linalg.eigvalsh(hessian_at_teacher(teacher, basis))
    direction = torch.randn(len(basis), generator=gen, dtype=torch.float64)
    start = teacher + s.start_distance * teacher.norm() * direction / direction.norm()
    step = s.step_size / eigenvalues[-1].item()
    errors = gradient_descent(start, teacher, basis, step, s.max_iterations, s.stop_error)
    predicted = (1 - step * eigenvalues).abs().max().item()  # the local quadratic model's contraction
    below = next((t for t, e in enumerate(errors) if e < s.target_error), None)
    figure = plot(errors, eigenvalues, s.target_error, predicted, output_dir / "hashed_recovery.png")
    summary = {
        "hessian_min_eigenvalue": eigenvalues[0].item(),
        "hessian_condition_number": (eigenvalues[-1] / eigenvalues[0]).item(),
        "final_relative_error": errors[-1],
        "iterations_to_target": below,
        "observed_rate": observed_rate(errors),
        "predicted_rate": predicted,
    }
    results = {
        "buckets_used": len(basis),
        "buckets_unused": s.num_buckets - len(basis),
        "hessian_positive_definite": bool(eigenvalues[0] > 0),
        "hessian_eigenvalues": eigenvalues.tolist(),
        "step_size": step,
        "relative_errors": errors,
        "reached_target": below is not None,
        "summary": summary,
    }
    return finish_run(cfg, output_dir, start_record, results, [figure], time.perf_counter() - started)
