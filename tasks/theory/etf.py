"""`task=etf`: compress a wide two-layer ReLU teacher into M nodes (Amani et al. 2022).

For each input dimension d, on the closed-form population loss (no sampling noise), compare
(a) an M-node student trained from several random starts, and (b) the equiangular tight frame
(ETF) construction: M unit vectors with pairwise cosine -1/(M-1) in the subspace orthogonal to the
teacher's mean direction, tilted toward it, with scale and tilt fitted. Both students have output
weights 1/M (their scale is absorbed by the ReLU's positive homogeneity).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from bench.components import options_of
from bench.errors import UserError
from tasks.theory.optimize import minimize_lbfgs
from tasks.theory.relu_kernel import cross_moment, population_loss
from tasks.theory.runs import finish_run, save_figure
from datasets.teacher_student import Teacher, make_teacher

TEACHER_OPTIONS = ("width", "mean_norm", "weight_std", "out_mean", "out_std", "teacher_seed")


def etf_directions(count: int, dim: int, orthogonal_to: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """`count` unit vectors with pairwise cosine -1/(count-1), orthogonal to a unit vector, randomly oriented."""
    basis = torch.randn(dim, count, generator=gen, dtype=torch.float64)
    basis -= orthogonal_to[:, None] * (orthogonal_to @ basis)[None, :]
    orthonormal, _ = torch.linalg.qr(basis)  # (dim, count), orthogonal to `orthogonal_to`
    centred = torch.eye(count, dtype=torch.float64) - 1.0 / count  # rows e_j - mean: the simplex
    frame = centred @ orthonormal.T
    return frame / frame.norm(dim=1, keepdim=True)


def perpendicular_cosines(student: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Pairwise cosines (off-diagonal) of the students' directions with their `direction` part removed."""
    perp = student - (student @ direction)[:, None] * direction
    perp = perp / perp.norm(dim=1, keepdim=True)
    cosines = perp @ perp.T
    return cosines[~torch.eye(len(student), dtype=torch.bool)]


class Compression:
    """One teacher, its energy E[f^2], and the population loss of any M-node student."""

    def __init__(self, teacher: Teacher, student_width: int):
        self.teacher, self.m = teacher, student_width
        self.student_out = torch.full((student_width,), 1.0 / student_width, dtype=torch.float64)
        w, a = teacher.weights, teacher.output_weights
        self.energy = cross_moment(w, a, w, a)

    def loss(self, student: torch.Tensor) -> torch.Tensor:
        t = self.teacher
        return population_loss(student, self.student_out, t.weights, t.output_weights, self.energy)

    def fit_etf(self, gen: torch.Generator, max_iterations: int) -> tuple[float, dict]:
        mean_dir = self.teacher.mean_direction
        frame = etf_directions(self.m, len(mean_dir), mean_dir, gen)
        log_scale = torch.zeros((), dtype=torch.float64, requires_grad=True)
        tilt = torch.tensor(math.pi / 4, dtype=torch.float64, requires_grad=True)  # angle away from the mean

        def student():
            return log_scale.exp() * (tilt.cos() * mean_dir + tilt.sin() * frame)

        loss = minimize_lbfgs([log_scale, tilt], lambda: self.loss(student()), max_iterations)
        return loss, {"scale": log_scale.exp().item(), "tilt_degrees": math.degrees(tilt.item())}

    def train_student(self, gen: torch.Generator, max_iterations: int) -> tuple[float, torch.Tensor]:
        d = len(self.teacher.mean_direction)
        student = (torch.randn(self.m, d, generator=gen, dtype=torch.float64) / math.sqrt(d)).requires_grad_()
        loss = minimize_lbfgs([student], lambda: self.loss(student), max_iterations)
        return loss, student.detach()


def compare_at_dim(teacher: Teacher, student_width: int, restarts: int, max_iterations: int, seed: int) -> dict:
    problem = Compression(teacher, student_width)
    gen = torch.Generator().manual_seed(seed)
    etf_loss, etf_fit = problem.fit_etf(gen, max_iterations)
    trained = [problem.train_student(gen, max_iterations) for _ in range(restarts)]
    best_loss, best_student = min(trained, key=lambda pair: pair[0])
    cosines = perpendicular_cosines(best_student, teacher.mean_direction)
    energy = problem.energy.item()
    return {
        "input_dim": len(teacher.mean_direction),
        "teacher_energy": energy,  # E[f^2]: the loss of the zero predictor
        "trained_loss": best_loss,
        "trained_restart_losses": [loss for loss, _ in trained],
        "etf_loss": etf_loss,
        **{f"etf_{k}": v for k, v in etf_fit.items()},
        "relative_gap": (etf_loss - best_loss) / best_loss,
        "gap_over_energy": (etf_loss - best_loss) / energy,
        "mean_cosine": cosines.mean().item(),
        "max_cosine_deviation": (cosines + 1 / (student_width - 1)).abs().max().item(),
        "etf_cosine": -1 / (student_width - 1),
    }


def plot(rows: list[dict], student_width: int, path: Path) -> str:
    dims = [r["input_dim"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot(dims, [100 * r["relative_gap"] for r in rows], "o-")
    left.axhline(0, color="grey", lw=0.8)
    left.set(xlabel="input dimension d", ylabel="(ETF - trained) / trained loss  [%]",
             title=f"ETF vs trained student, M={student_width}")
    right.plot(dims, [r["mean_cosine"] for r in rows], "o-", label="trained student (mean)")
    target = -1 / (student_width - 1)
    right.axhline(target, color="red", ls="--", label="ETF: -1/(M-1)")
    spread = max(0.05, *(abs(r["mean_cosine"] - target) * 1.2 for r in rows))  # do not zoom into noise
    right.set_ylim(target - spread, target + spread)
    right.set(xlabel="input dimension d", ylabel="pairwise cosine, orthogonal to mean",
              title="directions of the trained student")
    right.legend()
    return save_figure(fig, path)


def run_etf(cfg, output_dir: Path, start_record: dict) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(1)  # tiny tensors: threads cost more than they give
    settings, teacher_cfg = cfg.etf, options_of(cfg.dataset)
    m = settings.student_width
    if m < 2 or any(m >= d for d in settings.input_dims):
        raise UserError(f"etf.student_width={m}: must be at least 2 and below every input dimension "
                        f"({list(settings.input_dims)}), room for an ETF orthogonal to the mean")
    if teacher_cfg["mean_norm"] <= 0 or teacher_cfg["out_mean"] <= 0:
        raise UserError(f"etf: dataset.mean_norm={teacher_cfg['mean_norm']} and dataset.out_mean="
                        f"{teacher_cfg['out_mean']} must be > 0 (a mean direction; a positive teacher)")
    teacher_options = {k: teacher_cfg[k] for k in TEACHER_OPTIONS}
    teacher_options["seed"] = teacher_options.pop("teacher_seed")
    rows = [compare_at_dim(make_teacher(d, **teacher_options), m, settings.restarts, settings.max_iterations,
                           cfg.seed) for d in settings.input_dims]
    figure = plot(rows, m, output_dir / "etf.png")
    summary = {f"relative_gap_d{r['input_dim']}": r["relative_gap"] for r in rows}
    summary.update({f"mean_cosine_d{r['input_dim']}": r["mean_cosine"] for r in rows})
    results = {"student_width": m, "teacher": teacher_options, "per_dim": rows, "summary": summary}
    return finish_run(cfg, output_dir, start_record, results, [figure], time.perf_counter() - started)
