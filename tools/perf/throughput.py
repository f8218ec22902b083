"""Training throughput on the CPU: epochs against the GEMM floor, per-run overhead, sweep layouts.

    python -m tools.perf.throughput                     # all three parts, as measured for docs/throughput.md
    python -m tools.perf.throughput --epoch-reps 1 --sweep-epochs 2 --sweep-seeds 1   # shorter

1. Epochs (in this process, repetitions interleaved): one training epoch of `mlp3` at batch 50,
   dense and hashednets at 1/8 (and dense without flushing denormals), the median over repetitions
   of every epoch after the first (denormals build up as a ReLU net trains), against the GEMM floor:
   the three GEMMs of the 784x1000 layer's step (forward, input and weight gradients) times the
   epoch's steps, measured here with the same threads.
2. Per-run overhead in a sweep worker: `python main.py -m seed=1,...` (one process, the basic
   launcher), wandb off and wandb offline; a run's wall time is from the process start (the first run) or the
   previous run's result.json to its own result.json; its overhead is that minus its training and
   test seconds (imports, data, building the model, export, Hydra's job setup).
3. Sweep throughput: the same sweep of methods x seeds under each launcher layout, in runs per
   hour, against the ideal: the sum of the runs' training and test seconds in the one-thread layout
   divided by the cores (every core busy training, nothing else).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from bench.machine.cpu import configure_cpu, usable_cores
from bench.machine.data_cache import load_dataset
from bench.run.settings import RunSettings
from bench.training.hparams import with_hparams
from bench.training.trainer import Trainer
from tasks.compress import build_model

ROOT = Path(__file__).resolve().parents[2]
SWEEP_METHODS = ("hashednets", "hashednets_dk", "lowrank", "rer", "nn", "dk", "pruning", "sketch")
# each layout: (main.py overrides, what it means); {cores} is filled in
LAYOUTS = {"basic": (["threads={cores}"], "{cores} threads, one run at a time"),
           "basic-1": (["threads=1"], "1 thread, one run at a time"),
           "parallel": (["hydra/launcher=parallel", "hydra.launcher.n_jobs={cores}"],
                        "{cores} jobs of 1 thread")}


def compose_run(overrides: list[str]):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=["logger=none", *overrides])


class EpochTimer:
    """Trains one model `epochs` epochs per call; the seconds of each epoch after the first."""

    def __init__(self, overrides: list[str], data, epochs: int, flush_denormal: bool):
        self.cfg = compose_run(overrides)
        self.data, self.epochs, self.flush = data, epochs, flush_denormal

    def __call__(self) -> list[float]:
        configure_cpu(torch.get_num_threads(), self.flush)
        torch.manual_seed(self.cfg.seed)
        train_cfg, method_cfg = with_hparams(self.cfg)
        *_, model = build_model(self.cfg, RunSettings.from_config(self.cfg), train_cfg, method_cfg, self.data)
        fit = Trainer.from_config(train_cfg, self.cfg.seed, on_epoch=lambda metrics: None).fit(
            model, self.data, epochs=self.epochs)
        ends = [0.0] + [h["seconds"] for h in fit.history]
        return [b - a for a, b in zip(ends[1:-1], ends[2:])] or [ends[1]]


def gemm_floor(steps: int, batch: int, fan_in: int = 784, fan_out: int = 1000) -> float:
    weight, x, grad = torch.randn(fan_out, fan_in) * 0.03, torch.rand(batch, fan_in), torch.randn(batch, fan_out)
    start = time.perf_counter()
    for _ in range(steps):
        x @ weight.t(), grad @ weight, grad.t() @ x
    return time.perf_counter() - start


def epochs_part(args) -> None:
    configure_cpu(args.threads, flush_denormal=True)
    data = load_dataset(compose_run([f"dataset={args.dataset}"]).dataset)
    steps = -(-len(data.train_y) // 50)
    common = [f"dataset={args.dataset}", "model=mlp3", "train.batch_size=50"]
    variants = {"dense": EpochTimer([*common, "method=dense"], data, args.epochs, True),
                "hashednets 1/8": EpochTimer([*common, "method=hashednets", "ratio=1/8"], data, args.epochs, True),
                "dense, denormals kept": EpochTimer([*common, "method=dense"], data, args.epochs, False)}
    times = {name: [] for name in [*variants, "GEMM floor"]}
    for _ in range(args.epoch_reps):
        for name, timer in variants.items():
            times[name] += timer()
        configure_cpu(args.threads, flush_denormal=True)
        times["GEMM floor"].append(gemm_floor(steps, 50))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"1. epochs: mlp3, {args.dataset} ({len(data.train_y)} training images, {steps} steps of 50), "
          f"{torch.get_num_threads()} threads, medians of {len(times['dense'])} epochs")
    for name, seconds in median.items():
        print(f"   {name:24} {seconds:7.2f} s   {seconds / median['GEMM floor']:5.2f}x floor   "
              f"{seconds / median['dense']:5.2f}x dense")


def sweep(overrides: list[str], output_root: Path, wandb: bool = False) -> tuple[float, list[dict]]:
    """Wall seconds of `python main.py -m OVERRIDES` and its records, in the order they were written;
    `wandb`: log to wandb offline (else no logger)."""
    logger = ["logger=wandb", "logger.mode=offline"] if wandb else ["logger=none"]
    env = {**os.environ, "WANDB_MODE": "offline" if wandb else "disabled", "WANDB_SILENT": "true"}
    start = time.time()
    subprocess.run([sys.executable, "main.py", "-m", *logger, f"output_root={output_root}", *overrides],
                   cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    wall = time.time() - start
    paths = sorted(output_root.glob("runs/*/result.json"), key=lambda path: path.stat().st_mtime)
    return wall, [{**json.loads(path.read_text()), "written": path.stat().st_mtime - start} for path in paths]


def overhead_part(args, folder: Path) -> None:
    seeds = ",".join(str(seed) for seed in range(1, args.overhead_runs + 1))
    for wandb in (False, True):
        _, records = sweep([f"dataset={args.sweep_dataset}", f"train.epochs={args.sweep_epochs}", f"seed={seeds}"],
                           folder / f"overhead-wandb-{wandb}", wandb)
        print(f"2. per-run overhead: hashednets 1/8 on {args.sweep_dataset}, {args.sweep_epochs} epochs, "
              f"{len(records)} runs in one process (basic launcher, wandb {'offline' if wandb else 'off'})")
        previous = 0.0
        for number, record in enumerate(records, 1):
            wall = record["written"] - previous  # includes the previous run's logger finish
            busy = record["train_seconds"] + record["test_seconds"]
            label = "first run (process start included)" if number == 1 else f"run {number}"
            print(f"   {label:36} wall {wall:6.2f} s, training + test {busy:6.2f} s, overhead {wall - busy:5.2f} s")
            previous = record["written"]


def sweep_part(args, folder: Path) -> None:
    cores = usable_cores()
    grid = [f"method={','.join(args.sweep_methods)}", f"seed={','.join(map(str, range(1, args.sweep_seeds + 1)))}",
            f"dataset={args.sweep_dataset}", f"train.epochs={args.sweep_epochs}"]
    results = {}
    for name, (overrides, what) in LAYOUTS.items():
        wall, records = sweep([*grid, *(o.format(cores=cores) for o in overrides)], folder / name)
        results[name] = (wall, records, what.format(cores=cores))
    single = results["parallel"][1]  # every run there has one thread
    ideal = sum(r["train_seconds"] + r.get("test_seconds", 0) for r in single) / cores
    runs = len(single)
    print(f"3. sweep: {len(args.sweep_methods)} methods x {args.sweep_seeds} seeds on {args.sweep_dataset}, "
          f"{args.sweep_epochs} epochs, {cores} cores; ideal {ideal:.0f} s ({3600 * runs / ideal:.0f} runs/hour)")
    for name, (wall, records, what) in results.items():
        complete = sum(r["status"] == "complete" for r in records)
        print(f"   {name:9} ({what:29}) {wall:7.0f} s  {3600 * len(records) / wall:6.0f} runs/hour  "
              f"{wall / ideal:5.2f}x ideal  ({complete} of {len(records)} complete)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["epochs", "overhead", "sweep"],
                        choices=["epochs", "overhead", "sweep"])
    parser.add_argument("--threads", type=int, default=usable_cores(), help="threads of part 1 (default: all cores)")
    parser.add_argument("--dataset", default="fashion_mnist", help="data set of part 1")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per model in part 1 (the first is not counted)")
    parser.add_argument("--epoch-reps", type=int, default=3)
    parser.add_argument("--overhead-runs", type=int, default=3)
    parser.add_argument("--sweep-dataset", default="mnist5k")
    parser.add_argument("--sweep-epochs", type=int, default=10)
    parser.add_argument("--sweep-seeds", type=int, default=3)
    parser.add_argument("--sweep-methods", nargs="+", default=list(SWEEP_METHODS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if "epochs" in args.parts:
            epochs_part(args)
        if "overhead" in args.parts:
            overhead_part(args, Path(folder))
        if "sweep" in args.parts:
            sweep_part(args, Path(folder))


if __name__ == "__main__":
    main()
