"""`precision`: the arithmetic a run computes in, set for the process and recorded in every result.

- `fp32` (the default): float32 everywhere; TensorFloat-32 off for matmul and cuDNN on CUDA (torch
  enables it for cuDNN convolutions by default, which changes gradients in the third digit).
- `tf32`: float32 storage, TensorFloat-32 products on CUDA GPUs that have it (no effect on the CPU).
- `bf16`: float32 weights, forward products autocast to bfloat16 (torch.autocast, CPU or CUDA); the
  hashed layers' own kernels and the losses stay in float32.

Part of a run's identity except at the default (bench/run/identity.py IMPLICIT_DEFAULTS), so runs made
before the setting existed keep their identity: they computed in fp32 on the CPU.
"""
from __future__ import annotations

import contextlib

import torch

from bench.errors import UserError

PRECISIONS = ("fp32", "tf32", "bf16")
_autocast_dtype: torch.dtype | None = None


def set_precision(precision: str) -> dict:
    """Apply `precision` to this process; returns what the record keeps."""
    global _autocast_dtype
    if precision not in PRECISIONS:
        raise UserError(f"precision={precision!r}: allowed are {', '.join(PRECISIONS)}")
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    _autocast_dtype = torch.bfloat16 if precision == "bf16" else None
    return {"precision": precision, "tf32_matmul": tf32, "tf32_cudnn": tf32,
            "autocast": None if _autocast_dtype is None else "bfloat16"}


def compute_context(device: torch.device):
    """Where a forward pass runs: under bfloat16 autocast for `bf16`, else as it is."""
    if _autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_autocast_dtype)
