"""Refuse a model that cannot fit before any of it is allocated; size a population to the memory there is.

`model.hidden=[100000000]` asks for a dense model of tens of GB: building it would take all the
host's memory (or the GPU's) and end in a traceback or the out-of-memory killer. The dense model's
parameters are counted on the meta device (no memory) and its working set estimated: the dense
model is built on the host before a method compresses it, and training holds weights, gradients,
momentum and activations, about four float32 copies.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.errors import UserError

BYTES_PER_PARAM = 4  # float32
WORKING_SET_COPIES = 4  # weights, gradients, momentum, and room for activations and the method's own tensors
# A population plans for this share of the free memory: the data set, the batched kernels' temporaries
# and the interpreter take the rest.
POPULATION_MEMORY_SHARE = 0.75


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


def training_bytes(model_on_meta: nn.Module, batch_shape: tuple[int, ...]) -> int:
    """About the bytes one member of a population takes to train on batches of `batch_shape` (float32):
    its weights, their gradients and momentum, and every layer's output for one batch and that output's
    gradient. The outputs are counted by a forward pass on the meta device: no memory, no arithmetic.
    Given the dense model, an upper bound for its compressed versions, which store fewer weights."""
    outputs = 0

    def count(module, inputs, output):
        nonlocal outputs
        outputs += output.numel() if isinstance(output, torch.Tensor) else 0

    hooks = [m.register_forward_hook(count) for m in model_on_meta.modules() if not list(m.children())]
    try:
        model_on_meta(torch.empty(batch_shape, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    params = sum(p.numel() for p in model_on_meta.parameters())
    return BYTES_PER_PARAM * (3 * params + 2 * outputs)


def population_memory(device: torch.device, processes: int = 1, memory_gb: float | None = None) -> int | None:
    """The bytes one of `processes` populations training side by side on `device` may plan for: `memory_gb`
    where given, else its share of the device's free memory; None where that is unknown."""
    if memory_gb is not None:
        return int(memory_gb * 2**30)
    available = available_bytes(device)
    return None if available is None else int(available * POPULATION_MEMORY_SHARE / processes)


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"
