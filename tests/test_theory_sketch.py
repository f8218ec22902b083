"""task=sketch_manifold (Lin et al.): the sketched nets' fits on a small manifold."""
from __future__ import annotations

import torch

from layers.count_sketch import CountSketch
from tasks.theory.sketch_nets import fit_least_squares, gaussian_points, manifold_points, original, random_mlp, \
    relative_errors, sketched, train_backprop


def test_both_fits_approximate_a_net_on_a_curve_but_not_on_gaussian_inputs():
    widths, gen = [64, 32, 4], torch.Generator().manual_seed(0)
    weights = random_mlp(widths, gen)
    sketches = [CountSketch(fan_in, 16, 0, layer) for layer, fan_in in enumerate(widths[:-1])]
    for draw, fits_well in ((lambda n: manifold_points(n, 64, 1, 0.3, 0, gen), True),
                            (lambda n: gaussian_points(n, 64, gen), False)):
        fit_x, eval_x = draw(300), draw(200)
        exact = original(eval_x, weights)
        fitted = {"least squares": fit_least_squares(fit_x, weights, sketches, 1e-8),
                  "backprop": train_backprop(fit_x, original(fit_x, weights), widths, sketches, 200, gen)}
        for name, sketched_weights in fitted.items():
            errors = relative_errors(sketched(eval_x, sketched_weights, sketches), exact)
            assert errors["mean"] <= errors["p99"] <= errors["max"]
            if fits_well:
                assert errors["max"] < 0.1, name
            else:
                assert errors["mean"] > 0.3, name
