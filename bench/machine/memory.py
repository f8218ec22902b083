"""Refuse a model that cannot fit before any of it is allocated.

`model.hidden=[100000000]` asks for a dense model of tens of GB: building it would take all the
host's memory (or the GPU's) and end in a traceback or the out-of-memory killer. The dense model's
parameters are counted on the meta device (no memory) and its working set estimated: the dense
model is built on the host before a method compresses it, and training holds weights, gradients,
momentum and activations, about four float32 copies.
"""
from __future__ import annotations

from pathlib import Path

import torch

from bench.errors import UserError

BYTES_PER_PARAM = 4  # float32
WORKING_SET_COPIES = 4  # weights, gradients, momentum, and room for activations and the method's own tensors


def available_host_bytes() -> int | None:
    """Memory this process may still take: MemAvailable, capped by a cgroup limit; None where unknown."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit, used = (Path("/sys/fs/cgroup", name).read_text().strip() for name in ("memory.max", "memory.current"))
        if limit.isdigit() and used.isdigit():
            available = min(available or int(limit), int(limit) - int(used))
    except OSError:
        pass
    return available


def available_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return available_host_bytes()


def require_model_fits(params_ref: int, model_name: str, devices: list[torch.device]) -> None:
    """UserError naming the model's size and the memory there is, when its working set cannot fit."""
    needed = params_ref * BYTES_PER_PARAM * WORKING_SET_COPIES
    for device in dict.fromkeys(devices):
        available = available_bytes(device)
        if available is not None and needed > available:
            raise UserError(f"model={model_name} has {params_ref:,} dense parameters ({_gib(params_ref * BYTES_PER_PARAM)} "
                            f"as float32, about {_gib(needed)} to build and train); {device} has {_gib(available)} "
                            f"free: choose a smaller model (model.hidden, model.width)")


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"
