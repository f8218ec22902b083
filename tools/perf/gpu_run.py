"""A whole `python main.py` run's training seconds on the GPU against the CPU.

    python -m tools.perf.gpu_run                       # hashednets, 1/8, mlp3 (the default run), 10 epochs
    python -m tools.perf.gpu_run --epochs 3 -- model=lenet5 dataset=fashion_mnist

Both runs are the same experiment but for `device`, each in a fresh process writing to its own
temporary output folder (`logger=none`); the figure is each record's
`train_seconds` (training and per-epoch validation, no process start, no data loading). Without
a GPU it says so in one line and times nothing.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def train_seconds(device: str, epochs: int, overrides: list[str], output_root: Path) -> dict:
    command = [sys.executable, "main.py", f"device={device}", f"train.epochs={epochs}", "logger=none",
               f"output_root={output_root}", *overrides]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    (path,) = output_root.glob("runs/*/result.json")
    return json.loads(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("overrides", nargs="*", help="main.py overrides, e.g. model=lenet5")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: nothing timed")
        sys.exit(1)
    with tempfile.TemporaryDirectory() as folder:
        gpu = train_seconds("cuda", args.epochs, args.overrides, Path(folder) / "gpu")
        cpu = train_seconds("cpu", args.epochs, args.overrides, Path(folder) / "cpu")
    print(f"{gpu['method']} {gpu['ratio']} {gpu['model']} {gpu['dataset']}, {args.epochs} epochs")
    for name, record in (("cuda", gpu), ("cpu", cpu)):
        print(f"  {name:4}: {record['train_seconds']:8.1f} s training, test error {100 * record['test_error']:.2f}%")
    print(f"  cpu / cuda: {cpu['train_seconds'] / gpu['train_seconds']:.2f}x")


if __name__ == "__main__":
    main()
