"""The nets of `task=sketch_manifold`: a fixed random dense ReLU MLP, its sketched versions, and their inputs.

A sketched net passes every layer's input h through a count-sketch S of size m and multiplies by
weights of m columns: layer(h) = W' S h. W' is either fitted layer by layer by least squares, or
trained end to end by back-propagation (as Lin, Song and Yang do), on points of the input distribution.
"""
from __future__ import annotations

import math

import torch

from layers.count_sketch import CountSketch
from tasks.theory.optimize import minimize_lbfgs


def manifold_points(count: int, dim: int, manifold_dim: int, bump_width: float, anchor_seed: int,
                    gen: torch.Generator) -> torch.Tensor:
    """Points on a smooth `manifold_dim`-dimensional manifold in R^dim: z ~ U[0,1]^k mapped to the
    Gaussian bumps exp(-|z - c_t|^2 / (2 width^2)) at `dim` fixed anchors c_t (seeded), scaled to norm
    sqrt(dim) like a standard Gaussian vector. The image spans all of R^dim, not a flat subspace."""
    anchors = torch.rand(dim, manifold_dim, generator=torch.Generator().manual_seed(anchor_seed), dtype=torch.float64)
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
    """The net with layer weights of m columns applied to S h."""
    return layer_outputs(x, [lambda h, w=w, s=s: s(h) @ w.T for w, s in zip(weights, sketches)])


def fit_least_squares(x: torch.Tensor, weights: list[torch.Tensor], sketches: list[CountSketch],
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


def train_backprop(x: torch.Tensor, target: torch.Tensor, widths: list[int], sketches: list[CountSketch],
                   iterations: int, gen: torch.Generator) -> list[torch.Tensor]:
    """The sketched net's weights trained end to end from a He initialisation, by back-propagation:
    full-batch L-BFGS on the squared error to the original's outputs (plain gradient descent gets
    there too, but needs far more steps)."""
    weights = [(torch.randn(out, s.sketch_size, generator=gen, dtype=torch.float64)
                * math.sqrt(2 / s.sketch_size)).requires_grad_() for s, out in zip(sketches, widths[1:])]
    first = sketches[0](x)  # S x of the fixed inputs: computed once
    layers = [lambda h: h @ weights[0].T] + [lambda h, w=w, s=s: s(h) @ w.T for w, s in zip(weights[1:], sketches[1:])]
    scale = target.pow(2).mean()  # a loss of 1 is the zero predictor's
    minimize_lbfgs(weights, lambda: (layer_outputs(first, layers) - target).pow(2).mean() / scale, iterations)
    return [w.detach() for w in weights]


def relative_errors(approx: torch.Tensor, exact: torch.Tensor) -> dict:
    """Per point |approx - exact| / |exact|: the mean, the 99th percentile and the worst point."""
    errors = (approx - exact).norm(dim=1) / exact.norm(dim=1)
    return {"mean": errors.mean().item(), "p99": torch.quantile(errors, 0.99).item(), "max": errors.max().item()}
