"""The compressed checkpoint: what a method stores, plus what rebuilds the rest from a seed."""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from bench.architecture import MLPSpec
from bench.components import call_target
from bench.files import write_atomically

FORMAT = "compression-bench/compressed-checkpoint/v1"


def export_compressed(path: Path, method, method_cfg, spec: MLPSpec, budget: int, seed: int, model) -> int:
    """Save the compressed model; return its size in bytes, measured on the file."""
    checkpoint = {
        "format": FORMAT,
        "method_config": OmegaConf.to_container(method_cfg, resolve=True),
        "spec": spec.as_dict(),
        "params_budget": budget,
        "seed": seed,
        "state": method.export_state(model),
    }
    write_atomically(path, lambda tmp: torch.save(checkpoint, tmp))
    return Path(path).stat().st_size


def load_compressed(path: Path):
    """Rebuild the trained model from a compressed checkpoint (in eval mode)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("format") != FORMAT:
        raise ValueError(f"{path} is not a compressed checkpoint of format {FORMAT}")
    method = call_target(checkpoint["method_config"])
    model = method.build(MLPSpec.from_dict(checkpoint["spec"]), checkpoint["params_budget"], checkpoint["seed"])
    method.load_state(model, checkpoint["state"])
    return model.eval()
