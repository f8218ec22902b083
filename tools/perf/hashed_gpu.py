"""Time of one training step of the hashed layers' torch path against the dense layer, on a GPU.

    python -m tools.perf.hashed_gpu                   # CUDA: linear 784x1000 and 1000x1000, LeNet-5 and ResNet-20 convs
    python -m tools.perf.hashed_gpu --device cpu --reps 2 --steps 1 --batches 50   # the torch path on the CPU

A step is forward, backward and an SGD-with-momentum update (tools/perf/hashed_conv.py's Step, with
torch.cuda.synchronize around each timing); a linear layer is a first layer (its input needs no
gradient), the convolutions are those of tools/perf/hashed_conv.py. For each layer and batch, the
dense layer and HashedLinear / HashedConv2d with impl="torch" at each ratio (K = ratio * virtual
weights) are timed in one process, repetitions interleaved. Reported: median milliseconds per
step, its ratio to dense, and the ratio of the fastest repetitions ("best x").
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from bench.run.settings import parse_ratio
from layers.hashed_conv import HashedConv2d
from layers.hashed_linear import HashedLinear
from tools.perf.hashed_conv import LAYERS as CONV_LAYERS
from tools.perf.hashed_conv import Step, interleaved, print_header, print_row

LINEAR_SHAPES = ((784, 1000), (1000, 1000))
BATCHES = (50, 256, 1024)


def linear_runs(fan_in: int, fan_out: int, batch: int, ratios: list[str], device: str) -> dict[str, Step]:
    dense = nn.Linear(fan_in, fan_out)
    layers = {"dense": dense}
    for ratio in ratios:
        buckets = max(1, int(parse_ratio(ratio) * (fan_in + 1) * fan_out))
        layers[ratio] = HashedLinear.from_dense(dense, buckets, seed=1, salt=0, impl="torch")
    return {v: Step(layer, (batch, fan_in), input_grad=False, device=device) for v, layer in layers.items()}


def conv_runs(layer_spec: tuple, batch: int, ratios: list[str], device: str) -> dict[str, Step]:
    _, in_channels, out_channels, kernel, padding, size, bias, first = layer_spec
    dense = nn.Conv2d(in_channels, out_channels, kernel, padding=padding, bias=bias)
    virtual = dense.weight.numel() + (dense.bias.numel() if bias else 0)
    layers = {"dense": dense}
    for ratio in ratios:
        buckets = max(1, int(parse_ratio(ratio) * virtual))
        layers[ratio] = HashedConv2d.from_dense(dense, buckets, seed=1, salt=0, impl="torch")
    return {v: Step(layer, (batch, in_channels, size, size), input_grad=not first, device=device)
            for v, layer in layers.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu to exercise the script here")
    parser.add_argument("--ratios", nargs="+", default=["1/8", "1/64"], help="K as fractions of the virtual weights")
    parser.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    parser.add_argument("--reps", type=int, default=10, help="interleaved repetitions per variant")
    parser.add_argument("--steps", type=int, default=10, help="steps timed per repetition")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: nothing timed (--device cpu runs the torch path on the CPU)")

    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(f"torch {torch.__version__} on {where}; impl=torch; median of {args.reps} interleaved repetitions x "
          f"{args.steps} steps; x dense = step time / dense's, best x = ratio of the fastest repetitions\n")
    print_header(args.ratios)
    layers = [(f"linear {i}x{o}", lambda batch, i=i, o=o: linear_runs(i, o, batch, args.ratios, args.device))
              for i, o in LINEAR_SHAPES]
    layers += [(spec[0], lambda batch, spec=spec: conv_runs(spec, batch, args.ratios, args.device))
               for spec in CONV_LAYERS]
    for name, runs in layers:
        for batch in args.batches:
            print_row(name, batch, interleaved(runs(batch), args.reps, args.steps), args.ratios)


if __name__ == "__main__":
    main()
