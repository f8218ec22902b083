"""Populations against single runs: a member's share of an epoch, a sweep's runs per hour, the table's cost.

    python -m tools.perf.population                       # all three parts (the issue's targets)
    python -m tools.perf.population --parts share --dataset mnist5k --members 1 4
    python -m tools.perf.population --parts share --device cuda --members 1 8 64   # on a GPU

1. Share (in this process, one measurement after the other): one epoch of `mlp3` at batch 50 as a
   population of K members (dense and hashednets 1/8, different seeds), the epoch's seconds / K,
   against the GEMM floor (the three GEMMs of the 784x1000 layer's step times the epoch's steps, on
   the CPU) and against the single-run trainer's epoch. The second epoch is timed (the first builds
   buffers and, for hashednets, compiles nothing new but warms the kernels).
2. Sweep: 8 methods x `--sweep-seeds` seeds on `--sweep-dataset`, `--sweep-epochs` epochs, as
   `hydra/launcher=population` and as `hydra/launcher=parallel` (one process of one thread per core,
   the fastest layout of single runs here: docs/throughput.md), runs per hour of each and their ratio.
3. Table: what the tuned `experiment=table` (9 data sets x 8 methods x 2 ratios x mlp3/mlp5, 20 trials
   and 3 final seeds a cell) would take on this device at part 1's largest population's member share,
   every run its full epoch budget (an upper bound: early stopping ends most runs sooner).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

import layers.stacked
from bench.machine.cpu import configure_cpu, usable_cores
from bench.machine.data_cache import load_dataset
from bench.machine.device import place_data
from bench.run.settings import RunSettings
from bench.training.hparams import with_hparams
from bench.training.population_trainer import PopulationTrainer
from bench.training.trainer import Trainer
from datasets.larochelle import PUBLISHED_SIZES
from tasks.compress import build_model
from tools.perf.throughput import SWEEP_METHODS, compose_run, gemm_floor, sweep

SHARE_METHODS = {"dense": ["method=dense"], "hashednets 1/8": ["method=hashednets", "ratio=1/8"]}
# experiment=table (conf/experiment/table.yaml): its data sets' training examples (MNIST and Fashion-MNIST:
# 60,000 less the 20% validation share; the Larochelle sets: their published sizes)
TABLE_TRAINING_EXAMPLES = {"mnist": 48_000, "fashion_mnist": 48_000,
                           **{name: PUBLISHED_SIZES[name][0] for name in
                              ("basic", "rot", "bg_rand", "bg_img", "bg_img_rot", "rect", "convex")}}
TABLE_CELLS_PER_DATA_SET = 8 * 2  # methods x ratios, for each of mlp3 and mlp5
MLP5_COST = (784 * 1000 + 2 * 1000 * 1000 + 1000 * 10) / (784 * 1000 + 1000 * 10)  # multiply-adds per example


def members(overrides: list[str], data, count: int, device: torch.device):
    built = []
    for seed in range(1, count + 1):
        cfg = compose_run([*overrides, f"seed={seed}", "train.epochs=2"])
        torch.manual_seed(seed)
        train_cfg, method_cfg = with_hparams(cfg)
        *_, model = build_model(cfg, RunSettings.from_config(cfg), train_cfg, method_cfg, data)
        built.append((model.to(device), Trainer.from_config(train_cfg, seed, on_epoch=lambda metrics: None)))
    return built


def second_epoch(history: list[dict]) -> float:
    return history[1]["seconds"] - history[0]["seconds"]


def share_part(args, device: torch.device) -> float:
    """Prints part 1; returns the largest population's member share of an epoch, per training example."""
    configure_cpu(args.threads, flush_denormal=True)
    data = place_data(load_dataset(compose_run([f"dataset={args.dataset}"]).dataset), device)
    steps = -(-len(data.train_y) // 50)
    floor = min(gemm_floor(steps, 50) for _ in range(3))
    print(f"1. share: mlp3 on {args.dataset} ({len(data.train_y)} training images, {steps} steps of 50), "
          f"{torch.get_num_threads()} threads, {device}; GEMM floor {floor:.3f} s an epoch (CPU)")
    shares = []
    for name, overrides in SHARE_METHODS.items():
        common = [f"dataset={args.dataset}", "model=mlp3", *overrides]
        (model, trainer), = members(common, data, 1, device)
        single = second_epoch(trainer.fit(model, data).history)
        print(f"   {name:15} single run        {single:7.3f} s an epoch   {single / floor:5.2f}x floor")
        for count in args.members:
            built = members(common, data, count, device)
            fits = PopulationTrainer([t for _, t in built], layers.stacked).fit([m for m, _ in built], data)
            share = second_epoch(fits[0].history) / count
            print(f"   {name:15} {count:3d} members, share {share:7.3f} s an epoch   {share / floor:5.2f}x floor   "
                  f"{share / single:5.2f}x the single run")
        shares.append(share / len(data.train_y))
    return max(shares)


def sweep_part(args, folder: Path) -> None:
    cores = usable_cores()
    grid = [f"method={','.join(SWEEP_METHODS)}", f"seed={','.join(map(str, range(1, args.sweep_seeds + 1)))}",
            f"dataset={args.sweep_dataset}", f"train.epochs={args.sweep_epochs}"]
    layouts = {"parallel": ["hydra/launcher=parallel", f"hydra.launcher.n_jobs={cores}", "threads=1"],
               "population": ["hydra/launcher=population", f"hydra.launcher.n_jobs={cores}"]}
    results = {name: sweep([*grid, *overrides], folder / name) for name, overrides in layouts.items()}
    runs = {name: 3600 * len(records) / wall for name, (wall, records) in results.items()}
    print(f"2. sweep: {len(SWEEP_METHODS)} methods x {args.sweep_seeds} seeds on {args.sweep_dataset}, "
          f"{args.sweep_epochs} epochs, {cores} cores")
    for name, (wall, records) in results.items():
        complete = sum(r["status"] == "complete" for r in records)
        print(f"   {name:10} {wall:7.1f} s  {runs[name]:6.0f} runs/hour  ({complete} of {len(records)} complete)")
    print(f"   populations / parallel: {runs['population'] / runs['parallel']:.2f}x the runs per hour (target >= 0.95)")


def table_part(seconds_per_example: float, epochs: int, device: torch.device, trials: int, seeds: int) -> None:
    runs_per_cell = trials + seeds
    member_epochs = sum(TABLE_TRAINING_EXAMPLES.values()) * TABLE_CELLS_PER_DATA_SET * (1 + MLP5_COST)
    seconds = seconds_per_example * member_epochs * epochs * runs_per_cell
    cells = len(TABLE_TRAINING_EXAMPLES) * TABLE_CELLS_PER_DATA_SET * 2
    print(f"3. table: {cells} cells x {runs_per_cell} runs ({trials} trials, {seeds} seeds) = {cells * runs_per_cell} "
          f"runs, each {epochs} epochs at part 1's member share on {device}: at most {seconds / 3600:,.0f} hours "
          f"({seconds / 86400:,.1f} days); mlp5 counted at {MLP5_COST:.1f}x mlp3's multiply-adds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["share", "sweep", "table"], choices=["share", "sweep", "table"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=usable_cores(), help="threads of part 1 (default: all cores)")
    parser.add_argument("--dataset", default="fashion_mnist", help="data set of part 1")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 4, 16], help="population sizes of part 1")
    parser.add_argument("--sweep-dataset", default="mnist5k")
    parser.add_argument("--sweep-epochs", type=int, default=10)
    parser.add_argument("--sweep-seeds", type=int, default=3)
    parser.add_argument("--table-epochs", type=int, default=50)
    args = parser.parse_args()
    device = torch.device(args.device)
    share = None
    if "share" in args.parts or "table" in args.parts:
        share = share_part(args, device)
    if "sweep" in args.parts:
        with tempfile.TemporaryDirectory() as folder:
            sweep_part(args, Path(folder))
    if "table" in args.parts:
        table_part(share, args.table_epochs, device, trials=20, seeds=3)


if __name__ == "__main__":
    main()
