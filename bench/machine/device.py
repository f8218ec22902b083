"""Where a run computes: `device=auto|cpu|cuda|cuda:N`, checked before anything is loaded; the
settings that make a CUDA run repeatable; where the data live; what the record says of the machine.
"""
from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import subprocess

import torch
from torch import nn

from bench.errors import UserError

log = logging.getLogger("bench")

ALLOWED = "auto, cpu, cuda, cuda:N"
# Data whose tensors take at most this share of the GPU's free memory live on it whole; larger data
# stay on the host and each batch is copied over (the rest of the memory is for the model and its work).
DATA_SHARE_OF_FREE_MEMORY = 1 / 4
CUBLAS_WORKSPACE = ":4096:8"  # what deterministic cuBLAS needs (CUDA's reproducibility notes)


def resolve_device(value) -> torch.device:
    """The torch device `device=value` names; a UserError for an unknown value or an absent GPU."""
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if value == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", str(value))
    if not match:
        raise UserError(f"device={value!r} is unknown; allowed: {ALLOWED}")
    present = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(match.group(1) or 0)
    if index >= present:
        found = ", ".join(f"cuda:{i}" for i in range(present)) if present else "none"
        raise UserError(f"device={value!r}: no such CUDA device here (present: {found}); use device=cpu or auto")
    return torch.device("cuda", index)


def make_deterministic(device: torch.device) -> dict:
    """Same seed -> same result: deterministic kernels where torch has them (warn-only where it has
    none: scatter-adds otherwise sum in thread-dependent order); on CUDA also deterministic cuDNN and
    cuBLAS (the workspace setting must come before cuBLAS starts). Returns the settings, for the record."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    # torch.use_deterministic_algorithms also sets torch.compile's (inductor's) flag, importing the
    # compiler (1.3-2.3 s a process here); the harness never compiles, so only the kernels' flag is set
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    return {"deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}


def describe_device(device: torch.device) -> dict:
    """What the record keeps of the machine a run computed on."""
    if device.type == "cuda":
        return {"device": str(device), "name": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
                "capability": ".".join(map(str, torch.cuda.get_device_capability(device))),
                "memory_bytes": torch.cuda.get_device_properties(device).total_memory,
                "driver": _nvidia_driver()}
    return {"device": "cpu", "name": _cpu_name(), "threads": torch.get_num_threads()}


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def place_data(data, device: torch.device):
    """`data` (bench/training/splits.py) with its tensors on `device` when they fit (see DATA_SHARE_OF_FREE_MEMORY),
    else as it is, on the host; the trainer and evaluation copy each batch to the model's device."""
    if device.type == "cpu":
        return data
    size = sum(tensor.nbytes for tensor in data.tensors().values())
    free, _ = torch.cuda.mem_get_info(device)
    if size > DATA_SHARE_OF_FREE_MEMORY * free:
        log.info("data (%.1f MB) kept on the host: over %.0f%% of the %.1f MB free on %s; batches are copied",
                 size / 2**20, 100 * DATA_SHARE_OF_FREE_MEMORY, free / 2**20, device)
        return data
    return data.with_tensors(lambda tensor: tensor.to(device))


def _cpu_name() -> str | None:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _nvidia_driver() -> str | None:
    """The NVIDIA driver's version where nvidia-smi is installed (torch does not report it), else None."""
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                          capture_output=True, text=True)
    versions = done.stdout.split() if done.returncode == 0 else []
    return versions[0] if versions else None
