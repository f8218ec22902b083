"""Time of one training step of HashedConv2d against a dense nn.Conv2d.

    python -m tools.perf.hashed_conv                  # LeNet-5 and ResNet-20 convolutions, batch 50 and 128
    python -m tools.perf.hashed_conv --reps 20 --threads 2 --ratios 1/8 1/64

A step is forward, backward and an SGD-with-momentum update, as in training (as in
tools/perf/hashed_layer.py); the input needs a gradient except for a network's first layer. For
each layer and batch, dense nn.Conv2d and HashedConv2d at each ratio (K = ratio * virtual
weights) are timed in one process with their repetitions interleaved (the order rotates every
repetition), so that load from other processes hits all of them alike. Reported: median
milliseconds per step, its ratio to dense, and the ratio of the fastest repetitions ("best x",
less sensitive to other load on the machine).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numba
import torch
from torch import nn

from bench.run.settings import parse_ratio
from layers.hashed_conv import HashedConv2d

# name, in and out channels, kernel, padding, input height and width, bias, first layer of its network
LAYERS = (
    ("LeNet-5 1->6 5x5", 1, 6, 5, 2, 28, True, True),
    ("LeNet-5 6->16 5x5", 6, 16, 5, 0, 14, True, False),
    ("ResNet-20 16->16 3x3", 16, 16, 3, 1, 32, False, False),  # ResNet convolutions have no bias (batch norm)
    ("ResNet-20 32->32 3x3", 32, 32, 3, 1, 16, False, False),
    ("ResNet-20 64->64 3x3", 64, 64, 3, 1, 8, False, False),
)
BATCHES = (50, 128)


class Step:
    """One training step of a layer on a fixed batch, with a fixed output gradient, on `device`."""

    def __init__(self, layer: nn.Module, input_shape: tuple[int, ...], input_grad: bool, device: str = "cpu"):
        generator = torch.Generator().manual_seed(0)
        self.layer = layer.to(device)
        self.x = torch.randn(input_shape, generator=generator).to(device).requires_grad_(input_grad)
        with torch.no_grad():
            out_shape = self.layer(self.x).shape
        self.grad_out = torch.randn(out_shape, generator=generator).to(device)
        self.synchronize = torch.cuda.synchronize if self.x.is_cuda else lambda: None
        self.optimizer = torch.optim.SGD(layer.parameters(), lr=0.01, momentum=0.9)

    def __call__(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.x.grad = None
        self.layer(self.x).backward(self.grad_out)
        self.optimizer.step()

    def seconds(self, steps: int) -> float:
        self.synchronize()
        started = time.perf_counter()
        for _ in range(steps):
            self()
        self.synchronize()
        return (time.perf_counter() - started) / steps


def interleaved(runs: dict[str, Step], reps: int, steps: int) -> dict[str, list[float]]:
    """Seconds per step of every run in each repetition, after a warm-up; the order rotates every repetition."""
    for step in runs.values():
        step.seconds(2)  # warm-up: allocator, momentum buffers
    variants = list(runs)
    samples = {v: [] for v in variants}
    for rep in range(reps):
        for v in variants[rep % len(variants):] + variants[:rep % len(variants)]:
            samples[v].append(runs[v].seconds(steps))
    return samples


def time_variants(layer_spec: tuple, batch: int, ratios: list[str], reps: int, steps: int) -> dict[str, list[float]]:
    """Seconds per step of dense and of each ratio in every repetition, repetitions interleaved."""
    _, in_channels, out_channels, kernel, padding, size, bias, first = layer_spec
    dense = nn.Conv2d(in_channels, out_channels, kernel, padding=padding, bias=bias)
    virtual = dense.weight.numel() + (dense.bias.numel() if bias else 0)
    layers = {"dense": dense}
    for ratio in ratios:
        layers[ratio] = HashedConv2d.from_dense(dense, max(1, int(parse_ratio(ratio) * virtual)), seed=1, salt=0)
    runs = {v: Step(layer, (batch, in_channels, size, size), input_grad=not first) for v, layer in layers.items()}
    return interleaved(runs, reps, steps)


def print_header(ratios: list[str]) -> None:
    header = f"{'layer':22s} {'batch':>5s} {'dense ms':>9s}"
    for ratio in ratios:
        header += f" | {ratio + ' ms':>9s} {'x dense':>7s} {'best x':>6s}"
    print(header)


def print_row(name: str, batch: int, samples: dict[str, list[float]], ratios: list[str]) -> None:
    """Median milliseconds per step, its ratio to dense's, and the ratio of the fastest repetitions."""
    median = {v: statistics.median(s) for v, s in samples.items()}
    best = {v: min(s) for v, s in samples.items()}
    row = f"{name:22s} {batch:5d} {1000 * median['dense']:9.3f}"
    for ratio in ratios:
        row += (f" | {1000 * median[ratio]:9.3f} {median[ratio] / median['dense']:7.2f} "
                f"{best[ratio] / best['dense']:6.2f}")
    print(row, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratios", nargs="+", default=["1/8", "1/64"], help="K as fractions of the virtual weights")
    parser.add_argument("--reps", type=int, default=10, help="interleaved repetitions per variant")
    parser.add_argument("--steps", type=int, default=5, help="steps timed per repetition")
    parser.add_argument("--threads", type=int, default=None, help="torch and numba threads (default: their own choice)")
    args = parser.parse_args()
    if args.threads:  # both thread pools alike, so that neither oversubscribes the other
        torch.set_num_threads(args.threads)
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (numba {numba.get_num_threads()}); "
          f"median of {args.reps} interleaved repetitions x {args.steps} steps; x dense = step time / dense's, "
          "best x = ratio of the fastest repetitions\n")
    print_header(args.ratios)
    for layer_spec in LAYERS:
        for batch in BATCHES:
            print_row(layer_spec[0], batch, time_variants(layer_spec, batch, args.ratios, args.reps, args.steps),
                      args.ratios)


if __name__ == "__main__":
    main()
