"""`task=sketch_manifold`: sketched networks on low-dimensional inputs (Lin, Song and Yang 2019).

The claim: a sketched net (every layer's input count-sketched to size m) approximates the original
net on *all* inputs from a smooth k-dimensional manifold, with m growing with k but not with the
ambient dimension n, and it can be trained by back-propagation. The original is a fixed random dense
ReLU MLP; its sketched versions are fitted by least squares layer by layer, and trained end to end
by back-propagation (tasks/theory/sketch_nets.py). Both are scored by the relative output error on
held-out points (mean, 99th percentile and worst point), on manifolds of each k and on
full-dimensional Gaussian inputs, against m (n fixed) and against n (m fixed), over replicates.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from bench.errors import UserError
from bench.run.setting_checks import NON_NEGATIVE_INT, NON_NEGATIVE_NUMBER, POSITIVE_INT, POSITIVE_INTS, POSITIVE_NUMBER, \
    check_node
from layers.count_sketch import CountSketch
from reports.theory_sketch import sketch_figure
from tasks.theory.runs import finish_run, save_figure
from tasks.theory.sketch_nets import fit_least_squares, gaussian_points, manifold_points, original, \
    random_mlp, relative_errors, sketched, train_backprop

FITS = ("least_squares", "backprop")


def input_kinds(s) -> dict:
    """kind -> (k or None, draw(count, dim, gen))."""
    kinds = {f"manifold_k{k}": (k, lambda count, dim, gen, k=k: manifold_points(count, dim, k, s.bump_width,
                                                                               s.anchor_seed, gen))
             for k in s.manifold_dims}
    kinds["gaussian"] = (None, gaussian_points)
    return kinds


class Replicate:
    """One seed's original net on n inputs of one kind, its fitting and held-out points."""

    def __init__(self, s, draw, input_dim: int, seed: int):
        self.s, self.seed = s, seed
        self.widths = [input_dim, *s.hidden, s.out_features]
        self.gen = torch.Generator().manual_seed(seed)
        self.weights = random_mlp(self.widths, self.gen)
        self.fit_x, self.eval_x = draw(s.fit_points, input_dim, self.gen), draw(s.eval_points, input_dim, self.gen)
        self.fit_y, self.eval_y = original(self.fit_x, self.weights), original(self.eval_x, self.weights)

    def errors(self, sketch_size: int) -> dict:
        """Held-out errors of both sketched nets at sketch size m, flat: {fit}_{mean, p99, max}."""
        sketches = [CountSketch(fan_in, sketch_size, self.seed, layer) for layer, fan_in in enumerate(self.widths[:-1])]
        fitted = {"least_squares": fit_least_squares(self.fit_x, self.weights, sketches, self.s.ridge),
                  "backprop": train_backprop(self.fit_x, self.fit_y, self.widths, sketches,
                                             self.s.backprop_iterations, self.gen)}
        return {f"{fit}_{stat}": value for fit in FITS
                for stat, value in relative_errors(sketched(self.eval_x, fitted[fit], sketches), self.eval_y).items()}


def sketch_size_sweep(s, draw, seeds: list[int]) -> list[dict]:
    replicates = [Replicate(s, draw, s.input_dim, seed) for seed in seeds]
    return [{"sketch_size": m, "replicates": [r.errors(m) for r in replicates]} for m in sorted(s.sketch_sizes)]


def input_dim_sweep(s, draw, seeds: list[int]) -> list[dict]:
    return [{"input_dim": n, "replicates": [Replicate(s, draw, n, seed).errors(s.fixed_sketch_size) for seed in seeds]}
            for n in sorted(s.input_dims)]


def mean_over(point: dict, key: str) -> float:
    return sum(r[key] for r in point["replicates"]) / len(point["replicates"])


def bound_constant(m_sweep: dict, manifold_dims: dict) -> float:
    """The smallest C with worst-point error <= C sqrt(k / m) at every point of every manifold curve: the
    theory's rate (m = O(k / eps^2) up to logarithms), its unknown constant set by the data."""
    return max(mean_over(p, "least_squares_max") / math.sqrt(manifold_dims[kind] / p["sketch_size"])
               for kind, points in m_sweep.items() if manifold_dims[kind] for p in points)


def headline(m_sweep: dict, n_sweep: dict) -> dict:
    summary = {}
    for kind, points in m_sweep.items():
        sizes = [p["sketch_size"] for p in points]
        for fit in FITS:
            summary[f"{fit}_mean_{kind}_m{sizes[-1]}"] = mean_over(points[-1], f"{fit}_mean")
            summary[f"{fit}_max_{kind}_m{sizes[-1]}"] = mean_over(points[-1], f"{fit}_max")
        summary[f"least_squares_slope_{kind}"] = float(np.polyfit(
            np.log(sizes), np.log([mean_over(p, "least_squares_mean") for p in points]), 1)[0])
    for kind, points in n_sweep.items():
        errors = [mean_over(p, "least_squares_mean") for p in points]
        summary[f"least_squares_mean_spread_over_n_{kind}"] = max(errors) / min(errors)  # 1: no effect of n
    return summary


def check(cfg) -> None:
    """Refuse bad `sketch_manifold.*` settings (called by bench/run/setting_checks.py before the run is claimed)."""
    check_node("sketch_manifold", cfg, {
        "input_dim": POSITIVE_INT, "hidden": POSITIVE_INTS, "out_features": POSITIVE_INT,
        "manifold_dims": POSITIVE_INTS, "bump_width": POSITIVE_NUMBER, "anchor_seed": NON_NEGATIVE_INT,
        "sketch_sizes": POSITIVE_INTS, "input_dims": POSITIVE_INTS, "fixed_sketch_size": POSITIVE_INT,
        "fit_points": POSITIVE_INT, "eval_points": POSITIVE_INT, "ridge": NON_NEGATIVE_NUMBER,
        "backprop_iterations": POSITIVE_INT, "replicates": POSITIVE_INT})
    s = cfg.sketch_manifold
    widths = [s.input_dim, *s.hidden]
    for key, sizes in (("sketch_sizes", list(s.sketch_sizes)), ("fixed_sketch_size", [s.fixed_sketch_size])):
        if any(m < 1 or m > min(widths) for m in sizes):
            raise UserError(f"sketch_manifold.{key}={sizes if len(sizes) > 1 else sizes[0]}: each m must be in "
                            f"[1, {min(widths)}] (the narrowest layer input of {widths})")
    if s.fit_points < max(s.sketch_sizes):
        raise UserError(f"sketch_manifold.fit_points={s.fit_points}: need at least the largest sketch size "
                        f"({max(s.sketch_sizes)}) to fit the sketched weights")
    if any(k < 1 or k >= min(s.input_dim, *s.input_dims) for k in s.manifold_dims):
        raise UserError(f"sketch_manifold.manifold_dims={list(s.manifold_dims)}: each k must be in "
                        f"[1, {min(s.input_dim, *s.input_dims)}) (below every input dimension)")
    if any(n < s.fixed_sketch_size for n in s.input_dims):
        raise UserError(f"sketch_manifold.input_dims={list(s.input_dims)}: each n must be at least "
                        f"fixed_sketch_size={s.fixed_sketch_size}")


def run_sketch_manifold(cfg, output_dir: Path, start_record: dict) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(1)  # a core per run: the sweep's points are many and small
    s = cfg.sketch_manifold
    seeds = [cfg.seed + i for i in range(s.replicates)]
    kinds = input_kinds(s)
    m_sweep = {kind: sketch_size_sweep(s, draw, seeds) for kind, (_, draw) in kinds.items()}
    n_sweep = {kind: input_dim_sweep(s, draw, seeds) for kind, (k, draw) in kinds.items() if k}
    manifold_dims = {kind: k for kind, (k, _) in kinds.items()}
    results = {"widths": [s.input_dim, *s.hidden, s.out_features], "replicate_seeds": seeds,
               "manifold_dims": manifold_dims, "fixed_sketch_size": s.fixed_sketch_size,
               "sketch_size_sweep": m_sweep, "input_dim_sweep": n_sweep,
               "bound_constant": bound_constant(m_sweep, manifold_dims), "summary": headline(m_sweep, n_sweep)}
    figure = save_figure(sketch_figure(results), output_dir / "sketch_manifold.png")
    return finish_run(cfg, output_dir, start_record, results, [figure], time.perf_counter() - started)
