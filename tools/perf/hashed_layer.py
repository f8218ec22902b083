"""Time and memory of one training step of a hashed layer against a dense nn.Linear.

    python -m tools.perf.hashed_layer                 # 784x1000 and 1000x1000, batch 50 and 256
    python -m tools.perf.hashed_layer --reps 30 --ratio 1/64

A step is forward, backward and an SGD-with-momentum update, as in training; the input needs
no gradient (a first layer). Variants, timed in one process with their repetitions interleaved
(the order rotates every repetition) so that load from other processes hits all of them alike:
  dense      nn.Linear
  hashed     HashedLinear (cached index grouped into bucket streams: parallel scatter / bucket sum)
  no-cache   HashedLinear(cache_index=False): codes recomputed from the seed every step, serial bucket sum
  naive      NaiveHashedLinear: int64 index + float sign gathered under autograd
Reported: median seconds per step over repetitions and its ratio to dense, and the ratio of
the fastest repetitions ("best x", less sensitive to other load on the machine). Memory is measured
per variant in a fresh child process (Linux): the growth of the peak resident set while
building the layer and while stepping (the latter includes the optimizer state made in the
first step), next to the bytes kept between steps (parameters, buffers, optimizer state).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numba
import torch
from torch import nn

from bench.run.settings import parse_ratio
from layers.hashed_linear import HashedLinear, NaiveHashedLinear

VARIANTS = ("dense", "hashed", "no-cache", "naive")
SHAPES = ((784, 1000), (1000, 1000))
BATCHES = (50, 256)


def make_layer(variant: str, fan_in: int, fan_out: int, ratio) -> nn.Module:
    if variant == "dense":
        return nn.Linear(fan_in, fan_out)
    buckets = int(ratio * (fan_in + 1) * fan_out)
    if variant == "naive":
        return NaiveHashedLinear(fan_in, fan_out, buckets, seed=1, layer=0)
    return HashedLinear(fan_in, fan_out, buckets, seed=1, layer=0, cache_index=variant == "hashed")


class Step:
    """One training step of a layer on a fixed batch, with a fixed output gradient."""

    def __init__(self, layer: nn.Module, batch: int):
        generator = torch.Generator().manual_seed(0)
        self.layer = layer
        self.x = torch.randn(batch, layer.in_features, generator=generator)
        self.grad_out = torch.randn(batch, layer.out_features, generator=generator)
        self.optimizer = torch.optim.SGD(layer.parameters(), lr=0.01, momentum=0.9)

    def __call__(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.layer(self.x).backward(self.grad_out)
        self.optimizer.step()

    def seconds(self, steps: int) -> float:
        started = time.perf_counter()
        for _ in range(steps):
            self()
        return (time.perf_counter() - started) / steps

    def kept_bytes(self) -> int:
        """Bytes held between steps: parameters, buffers (incl. caches), optimizer state."""
        tensors = [*self.layer.parameters(), *self.layer.buffers()]
        tensors += [t for state in self.optimizer.state.values() for t in state.values() if torch.is_tensor(t)]
        return sum(t.numel() * t.element_size() for t in tensors)


def time_variants(fan_in: int, fan_out: int, batch: int, ratio, reps: int, steps: int) -> dict[str, list[float]]:
    """Seconds per step of every variant in every repetition, repetitions interleaved."""
    runs = {v: Step(make_layer(v, fan_in, fan_out, ratio), batch) for v in VARIANTS}
    for step in runs.values():
        step.seconds(2)  # warm-up: allocator, momentum buffers
    samples = {v: [] for v in VARIANTS}
    for rep in range(reps):
        for v in VARIANTS[rep % len(VARIANTS):] + VARIANTS[:rep % len(VARIANTS)]:
            samples[v].append(runs[v].seconds(steps))
    return samples


def _resident_peak_bytes() -> int:
    """VmHWM, the peak resident set of this process (Linux)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def _reset_resident_peak() -> None:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM to the current resident set (Linux >= 4.0)


def peak_memory(variant: str, fan_in: int, fan_out: int, batch: int, ratio, steps: int) -> dict:
    """Run in a fresh process: growth of the peak resident set while building, and while stepping."""
    Step(make_layer(variant, 8, 8, 1), 2)()  # loads kernels and thread pools, so they are not counted
    _reset_resident_peak()
    before = _resident_peak_bytes()
    step = Step(make_layer(variant, fan_in, fan_out, ratio), batch)
    build = _resident_peak_bytes() - before
    _reset_resident_peak()
    before = _resident_peak_bytes()
    for _ in range(steps):
        step()
    return {"build_peak_bytes": build, "step_peak_bytes": _resident_peak_bytes() - before,
            "kept_bytes": step.kept_bytes()}


def memory_in_child(variant: str, fan_in: int, fan_out: int, batch: int, ratio_text: str, threads: int | None) -> dict:
    command = [sys.executable, "-m", "tools.perf.hashed_layer", "--memory-of", variant,
               "--shape", f"{fan_in}x{fan_out}", "--batch", str(batch), "--ratio", ratio_text]
    command += ["--threads", str(threads)] if threads else []
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def build_ms(variant: str, fan_in: int, fan_out: int, ratio, reps: int) -> float:
    """Median time to construct the layer (for `hashed`: hash codes, then grouping them into streams)."""
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        make_layer(variant, fan_in, fan_out, ratio)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def mib(n: int) -> str:
    return f"{n / 2 ** 20:7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratio", default="1/8", help="buckets K = ratio * virtual weights (default 1/8)")
    parser.add_argument("--reps", type=int, default=15, help="interleaved repetitions per variant")
    parser.add_argument("--steps", type=int, default=10, help="steps timed per repetition")
    parser.add_argument("--threads", type=int, default=None, help="torch and numba threads (default: their own choice)")
    parser.add_argument("--memory-of", choices=VARIANTS, help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    ratio = parse_ratio(args.ratio)
    if args.threads:  # both thread pools alike, so that neither oversubscribes the other
        torch.set_num_threads(args.threads)
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    if args.memory_of:
        fan_in, fan_out = map(int, args.shape.split("x"))
        print(json.dumps(peak_memory(args.memory_of, fan_in, fan_out, args.batch, ratio, args.steps)))
        return

    Step(make_layer("hashed", 8, 8, 1), 2)()  # starts numba's thread pool, so its threading layer is known
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (numba {numba.get_num_threads()}, "
          f"{numba.threading_layer()} layer); K = {ratio} of the virtual weights; "
          f"median of {args.reps} interleaved repetitions x {args.steps} steps")
    for fan_in, fan_out in SHAPES:
        print(f"\nlayer {fan_in}x{fan_out}: building it takes {build_ms('hashed', fan_in, fan_out, ratio, 5):.0f} ms "
              f"(hashed), {build_ms('no-cache', fan_in, fan_out, ratio, 5):.0f} ms (no-cache), median of 5")
        for batch in BATCHES:
            samples = time_variants(fan_in, fan_out, batch, ratio, args.reps, args.steps)
            median = {v: statistics.median(s) for v, s in samples.items()}
            best = {v: min(s) for v, s in samples.items()}
            print(f"  batch {batch:3d}  {'variant':9s} {'ms/step':>8s} {'x dense':>8s} {'best x':>7s} "
                  f"{'kept MiB':>9s} {'build peak':>10s} {'step peak':>10s}")
            for v in VARIANTS:
                memory = memory_in_child(v, fan_in, fan_out, batch, args.ratio, args.threads)
                print(f"            {v:9s} {1000 * median[v]:8.3f} {median[v] / median['dense']:8.2f} "
                      f"{best[v] / best['dense']:7.2f} "
                      f"{mib(memory['kept_bytes']):>9s} {mib(memory['build_peak_bytes']):>10s} "
                      f"{mib(memory['step_peak_bytes']):>10s}")


if __name__ == "__main__":
    main()
