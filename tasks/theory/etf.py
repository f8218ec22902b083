"""`task=etf`: compress a wide two-layer ReLU teacher into M nodes (Amani et al. 2022).

The conjecture: for the simplified (large-N) problem, the optimal M-node student has its weights on
an equiangular tight frame (ETF): M directions with pairwise cosine -1/(M-1) orthogonal to the
teacher's mean direction, tilted toward it, the scale and tilt depending on the teacher. Tested on
the closed-form population loss, against the best of several freely trained students:
  * the N sweep (d, M fixed): finite teachers of N units and the large-N limit; the ETF with scale,
    tilt and orientation fitted (started at the trained student snapped to its nearest exact ETF),
    and the snapped ETF itself (scale and tilt fitted); the gap should fall to 0 with N;
  * the d and M sweeps in the large-N limit: the ETF against baselines fitted the same way (an
    orthogonal frame, random directions, every unit on the mean), and the trained student's
    pairwise cosines orthogonal to the mean against -1/(M-1).
Each configuration is repeated over `etf.replicates` seeds (teacher draws, starts, random frames).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from bench.components import options_of
from bench.errors import UserError
from bench.run.setting_checks import POSITIVE_INT, POSITIVE_INTS, check_node
from datasets.teacher_student import make_teacher
from reports.theory_etf import etf_figure
from tasks.theory.etf_fits import FiniteTeacherLoss, LimitTeacherLoss, fit_frame, train_student
from tasks.theory.frames import etf_coordinates, frame_coordinates, nearest_orientation, perpendicular_cosines, \
    random_orientation
from tasks.theory.mean_field import MeanFieldTeacher
from tasks.theory.runs import finish_run, save_figure

TEACHER_OPTIONS = ("mean_norm", "weight_std", "out_mean", "out_std")
BASELINES = ("orthogonal", "random", "mean")  # fitted like the ETF; `mean`: every unit on the mean direction


def best_trained(loss, restarts: int, max_iterations: int, gen: torch.Generator) -> dict:
    trained = [train_student(loss, gen, max_iterations) for _ in range(restarts)]
    best_loss, student = min(trained, key=lambda pair: pair[0])
    cosines = perpendicular_cosines(student, loss.mean_direction)
    return {"trained_loss": best_loss, "student": student, "mean_cosine": cosines.mean().item(),
            "max_cosine_deviation": (cosines + 1 / (loss.m - 1)).abs().max().item()}


def finite_point(loss: FiniteTeacherLoss, restarts: int, max_iterations: int, gen: torch.Generator) -> dict:
    """Trained student, its snap to the nearest exact ETF (scale, tilt fitted) and the fully fitted ETF."""
    row = best_trained(loss, restarts, max_iterations, gen)
    coordinates = etf_coordinates(loss.m)
    snapped = coordinates @ nearest_orientation(coordinates, row.pop("student"), loss.mean_direction).T
    row["snapped_etf_loss"] = fit_frame(loss, snapped, max_iterations)
    row["etf_loss"] = fit_frame(loss, snapped, max_iterations, fit_orientation=True)
    return row


def limit_point(loss: LimitTeacherLoss, restarts: int, max_iterations: int, gen: torch.Generator) -> dict:
    """Trained student, ETF and baselines in the large-N limit, where the orientation does not matter
    (the problem is symmetric under rotations fixing the mean): only scale and tilt are fitted."""
    row = best_trained(loss, restarts, max_iterations, gen)
    del row["student"]
    d, mean = len(loss.mean_direction), loss.mean_direction
    for kind in ("etf", "orthogonal", "random"):
        directions = frame_coordinates(kind, loss.m, gen) @ random_orientation(loss.m, d, mean, gen).T
        row[f"{kind}_loss"] = fit_frame(loss, directions, max_iterations)
    row["mean_loss"] = fit_frame(loss, None, max_iterations)
    return row


def with_gaps(row: dict, energy: float) -> dict:
    """Each construction's loss relative to the trained student's: (loss - trained) / trained."""
    trained = row["trained_loss"]
    gaps = {key[:-len("_loss")] + "_gap": (value - trained) / trained
            for key, value in row.items() if key.endswith("_loss") and key != "trained_loss"}
    return {**row, **gaps, "trained_loss_over_energy": trained / energy}


def teacher_width_sweep(s, teacher: dict, teacher_seed: int, seeds: list[int], limit: LimitTeacherLoss) -> list[dict]:
    """Replicate i: the teacher drawn with seed teacher_seed + i, the starts with seeds[i]."""
    points = []
    for width in s.teacher_widths:
        replicates = []
        for i, seed in enumerate(seeds):
            drawn = make_teacher(s.input_dim, width, seed=teacher_seed + i, **teacher)
            loss, gen = FiniteTeacherLoss(drawn, s.student_width), torch.Generator().manual_seed(seed)
            replicates.append(with_gaps(finite_point(loss, s.restarts, s.max_iterations, gen), loss.energy))
        points.append({"teacher_width": width, "replicates": replicates})
    replicates = [with_gaps(limit_point(limit, s.restarts, s.max_iterations, torch.Generator().manual_seed(seed)),
                            limit.energy) for seed in seeds]
    return points + [{"teacher_width": None, "replicates": replicates}]  # None: the large-N limit


def limit_sweep(s, teacher: dict, seeds: list[int], reuse: dict) -> list[dict]:
    """Every (d, M) of the d sweep (M = student_width) and the M sweep (d = input_dim) in the large-N limit."""
    cells = [(d, s.student_width) for d in s.input_dims]
    cells += [(s.input_dim, m) for m in s.student_widths if (s.input_dim, m) not in cells]
    points = []
    for d, m in cells:
        if (d, m) in reuse:
            points.append(reuse[(d, m)])
            continue
        loss = limit_loss(d, m, teacher)
        replicates = [with_gaps(limit_point(loss, s.restarts, s.max_iterations, torch.Generator().manual_seed(seed)),
                                loss.energy) for seed in seeds]
        points.append({"input_dim": d, "student_width": m, "teacher_energy": loss.energy, "replicates": replicates})
    return points


def limit_loss(input_dim: int, student_width: int, teacher: dict) -> LimitTeacherLoss:
    limit = MeanFieldTeacher(input_dim, teacher["mean_norm"], teacher["weight_std"], teacher["out_mean"])
    mean_direction = torch.zeros(input_dim, dtype=torch.float64)
    mean_direction[0] = 1.0  # any direction: the limit problem is rotation invariant
    return LimitTeacherLoss(limit, mean_direction, student_width)


def check(cfg) -> None:
    """Refuse bad `etf.*` settings (called by bench/run/setting_checks.py before the run is claimed)."""
    check_node("etf", cfg, {"input_dim": POSITIVE_INT, "student_width": POSITIVE_INT, "teacher_widths": POSITIVE_INTS,
                            "input_dims": POSITIVE_INTS, "student_widths": POSITIVE_INTS, "restarts": POSITIVE_INT,
                            "replicates": POSITIVE_INT, "max_iterations": POSITIVE_INT})
    s, teacher = cfg.etf, options_of(cfg.dataset)
    dims = [s.input_dim, *s.input_dims]
    if min(dims) < 3:
        raise UserError(f"etf.input_dim={s.input_dim}, etf.input_dims={list(s.input_dims)}: each d must be at least 3")
    for key, value in (("student_width", s.student_width), ("student_widths", list(s.student_widths))):
        if any(m < 2 or m >= min(dims) for m in (value if isinstance(value, list) else [value])):
            raise UserError(f"etf.{key}={value}: each M must be in [2, {min(dims) - 1}] (below every input "
                            "dimension: room for a frame orthogonal to the mean)")
    if teacher["mean_norm"] <= 0 or teacher["out_mean"] <= 0:
        raise UserError(f"etf: dataset.mean_norm={teacher['mean_norm']} and dataset.out_mean="
                        f"{teacher['out_mean']} must be > 0 (a mean direction; a positive teacher)")


def headline(width_sweep: list[dict], cells: list[dict]) -> dict:
    """Mean over replicates of the numbers the claim is about, and the slope of log gap against log N."""
    def mean(points, key):
        return sum(r[key] for r in points["replicates"]) / len(points["replicates"])
    summary = {f"etf_gap_N{p['teacher_width'] or 'limit'}": mean(p, "etf_gap") for p in width_sweep}
    finite = [(p["teacher_width"], mean(p, "etf_gap")) for p in width_sweep if p["teacher_width"]]
    if len(finite) > 1 and all(gap > 0 for _, gap in finite):
        widths, gaps = zip(*finite)
        summary["etf_gap_slope_against_N"] = float(np.polyfit(np.log(widths), np.log(gaps), 1)[0])
    summary.update({f"snapped_etf_gap_N{p['teacher_width']}": mean(p, "snapped_etf_gap")
                    for p in width_sweep if p["teacher_width"]})
    for c in cells:
        tag = f"d{c['input_dim']}_M{c['student_width']}"
        summary.update({f"limit_{kind}_gap_{tag}": mean(c, f"{kind}_gap") for kind in ("etf", *BASELINES)})
        summary[f"limit_mean_cosine_{tag}"] = mean(c, "mean_cosine")
    return summary


def run_etf(cfg, output_dir: Path, start_record: dict) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(1)  # tiny tensors: threads cost more than they give
    s = cfg.etf
    teacher = {k: options_of(cfg.dataset)[k] for k in TEACHER_OPTIONS}
    seeds = [cfg.seed + i for i in range(s.replicates)]
    limit = limit_loss(s.input_dim, s.student_width, teacher)
    width_sweep = teacher_width_sweep(s, teacher, options_of(cfg.dataset)["teacher_seed"], seeds, limit)
    shared = {"input_dim": s.input_dim, "student_width": s.student_width, "teacher_energy": limit.energy,
              "replicates": width_sweep[-1]["replicates"]}
    cells = limit_sweep(s, teacher, seeds, {(s.input_dim, s.student_width): shared})
    results = {"input_dim": s.input_dim, "student_width": s.student_width, "teacher": teacher,
               "replicate_seeds": seeds, "teacher_width_sweep": width_sweep, "limit_sweep": cells,
               "summary": headline(width_sweep, cells)}
    figure = save_figure(etf_figure(results), output_dir / "etf.png")
    return finish_run(cfg, output_dir, start_record, results, [figure], time.perf_counter() - started)
