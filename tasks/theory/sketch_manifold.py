"""`task=sketch_manifold`: sketched networks on low-dimensional inputs (Lin, Song and Yang 2019).

The original net is a fixed random dense ReLU MLP on inputs in R^n. Its sketched version passes
every layer's input h through a count-sketch S of size m and multiplies by (m-column) weights:
  * oblivious: the weights are W S^T, so the layer computes W S^T S h (no data involved);
  * fitted:    the weights are fitted, layer by layer, by least squares on points drawn from the input
               distribution (the theory's claim: a sketched net that approximates the original on a
               smooth k-dimensional manifold exists and can be trained), starting from the sketched
               net's own previous layer.
Both are scored by the relative output error against the original on held-out points, for inputs
on k-dimensional manifolds and for full-dimensional Gaussian inputs.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from bench.errors import UserError
from tasks.theory.runs import finish_run, save_figure
from layers.count_sketch import CountSketch


def manifold_points(count: int, dim: int, manifold_dim: int, bump_width: float, seed: int,
                    gen: torch.Generator) -> torch.Tensor:
    """Points on a smooth `manifold_dim`-dimensional manifold in R^dim: z ~ U[0,1]^k mapped to the
    Gaussian bumps exp(-|z - c_t|^2 / (2 width^2)) at `dim` fixed anchors c_t (seeded), scaled to norm
    sqrt(dim) like a standard Gaussian vector. The image spans all of R^dim, not a flat subspace."""
    anchors = torch.rand(dim, manifold_dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = torch.rand(count, manifold_dim, generator=gen, dtype=torch.float64)
    x = torch.exp(-torch.cdist(z, anchors) ** 2 / (2 * bump_width ** 2))
    return x * math.sqrt(dim) / x.norm(dim=1, keepdim=True)


def gaussian_points(count: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(count, dim, generator=gen, dtype=torch.float64)


def random_mlp(widths: list[int], gen: torch.Generator) -> list[torch.Tensor]:
    """He-initialised weights (out, in) of a dense ReLU net without biases."""
    return [torch.randn(out, fan_in, generator=gen, dtype=torch.float64) * math.sqrt(2 / fan_in)
            for fan_in, out in zip(widths[:-1], widths[1:])]


def layer_outputs(x: torch.Tensor, layers) -> torch.Tensor:
    """Apply `layers` (callables h -> pre-activation) with ReLU between them."""
    for i, layer in enumerate(layers):
        x = layer(x)
        if i < len(layers) - 1:
            x = torch.relu(x)
    return x


def original(x: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    return layer_outputs(x, [lambda h, w=w: h @ w.T for w in weights])


def sketched(x: torch.Tensor, weights: list[torch.Tensor], sketches: list[CountSketch]) -> torch.Tensor:
    """The net with layer weights of m columns (W S^T or fitted) applied to S h."""
    return layer_outputs(x, [lambda h, w=w, s=s: s(h) @ w.T for w, s in zip(weights, sketches)])


def fit_sketched_weights(x: torch.Tensor, weights: list[torch.Tensor], sketches: list[CountSketch],
                         ridge: float) -> list[torch.Tensor]:
    """Layer by layer, the (out, m) weights minimising |W' S h' - W h|^2 over the fitting points,
    h' the sketched net's own input to that layer and h the original's (ridge relative to the mean
    eigenvalue, for stability)."""
    fitted, h_sketched, h_original = [], x, x
    for i, (w, sketch) in enumerate(zip(weights, sketches)):
        z, target = sketch(h_sketched), h_original @ w.T
        gram = z.T @ z
        gram += ridge * gram.diagonal().mean() * torch.eye(len(gram), dtype=gram.dtype)
        fitted.append(torch.linalg.solve(gram, z.T @ target).T)
        h_sketched, h_original = z @ fitted[-1].T, target
        if i < len(weights) - 1:
            h_sketched, h_original = torch.relu(h_sketched), torch.relu(h_original)
    return fitted


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """Mean over points of |approx - exact| / |exact|."""
    return ((approx - exact).norm(dim=1) / exact.norm(dim=1)).mean().item()


def loglog_slope(sizes: list[int], errors: list[float]) -> float:
    """Least-squares slope of log(error) against log(m): -0.5 is the 1/sqrt(m) rate."""
    return float(np.polyfit(np.log(sizes), np.log(errors), 1)[0])


def input_kinds(s) -> dict:
    kinds = {f"manifold_k{k}": (lambda count, gen, k=k: manifold_points(count, s.input_dim, k, s.bump_width,
                                                                           s.anchor_seed, gen))
             for k in s.manifold_dims}
    kinds["gaussian"] = lambda count, gen: gaussian_points(count, s.input_dim, gen)
    return kinds


def validate(s) -> None:
    widths = [s.input_dim, *s.hidden]
    if any(m < 1 or m > min(widths) for m in s.sketch_sizes):
        raise UserError(f"sketch_manifold.sketch_sizes={list(s.sketch_sizes)}: each m must be in [1, {min(widths)}] "
                        f"(the narrowest layer input of {widths})")
    if s.fit_points < max(s.sketch_sizes):
        raise UserError(f"sketch_manifold.fit_points={s.fit_points}: need at least the largest sketch size "
                        f"({max(s.sketch_sizes)}) to fit the sketched weights")
    if any(k < 1 or k >= s.input_dim for k in s.manifold_dims):
        raise UserError(f"sketch_manifold.manifold_dims={list(s.manifold_dims)}: each k must be in [1, {s.input_dim})")


def plot(curves: dict, sizes: list[int], path: Path) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for ax, variant in zip(axes, ("oblivious", "fitted")):
        for kind, curve in curves.items():
            ax.loglog(sizes, curve[variant], "o-", label=kind)
        first = min(curve[variant][0] for curve in curves.values())
        ax.loglog(sizes, [first * math.sqrt(sizes[0] / m) for m in sizes], "k:", label="1/sqrt(m)")
        ax.set(xlabel="sketch size m", ylabel="relative output error (held out)",
               title={"oblivious": "weights W S^T", "fitted": "weights fitted in the sketch space"}[variant])
        ax.set_xticks(sizes, [str(m) for m in sizes], minor=False)
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def run_sketch_manifold(cfg, output_dir: Path, start_record: dict) -> dict:
    started = time.perf_counter()
    s = cfg.sketch_manifold
    validate(s)
    widths = [s.input_dim, *s.hidden, s.out_features]
    weights = random_mlp(widths, torch.Generator().manual_seed(cfg.seed))
    sizes = sorted(s.sketch_sizes)
    curves = {}
    for kind, draw in input_kinds(s).items():
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        fit_x, eval_x = draw(s.fit_points, gen), draw(s.eval_points, gen)  # disjoint draws: held-out points
        exact = original(eval_x, weights)
        curve = {"oblivious": [], "fitted": []}
        for m in sizes:
            sketches = [CountSketch(fan_in, m, cfg.seed, layer) for layer, fan_in in enumerate(widths[:-1])]
            compressed = [sk.compress_weight(w) for w, sk in zip(weights, sketches)]
            fitted = fit_sketched_weights(fit_x, weights, sketches, s.ridge)
            curve["oblivious"].append(relative_error(sketched(eval_x, compressed, sketches), exact))
            curve["fitted"].append(relative_error(sketched(eval_x, fitted, sketches), exact))
        curve["slopes"] = {v: loglog_slope(sizes, curve[v]) for v in ("oblivious", "fitted")}
        curves[kind] = curve
    figure = plot(curves, sizes, output_dir / "sketch_manifold.png")
    summary = {f"{variant}_error_{kind}_m{sizes[-1]}": curve[variant][-1]
               for kind, curve in curves.items() for variant in ("oblivious", "fitted")}
    summary.update({f"fitted_slope_{kind}": curve["slopes"]["fitted"] for kind, curve in curves.items()})
    results = {"widths": widths, "sketch_sizes": sizes, "curves": curves, "summary": summary}
    return finish_run(cfg, output_dir, start_record, results, [figure], time.perf_counter() - started)
