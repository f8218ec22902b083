"""The compressed checkpoint: what a method stores, plus what rebuilds the rest from a seed.

A checkpoint is serialized in memory and those very bytes are written, so its size is known
before anything is written (a byte budget measures checkpoints this way) and does not depend on
the file's name (torch.save names its zip archive after the file it writes to).
"""
from __future__ import annotations

import copy
import io
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from bench.errors import UserError
from bench.storage.files import write_atomically
from bench.machine.memory import require_model_fits
from bench.compression.method import load_method
from bench.compression.model_factory import ModelFactory
from bench.run.record import RESULT_FILE
from bench.compression.shipped_targets import require_shipped_targets
from bench.storage.state_files import UnreadableStateFile, file_sha256, load_torch_dict, read_json_object

FORMAT = "compression-bench/compressed-checkpoint/v2"


def on_host(state: dict) -> dict:
    """A copy of a state dict with its tensors on the host; its type and torch's `_metadata` are kept,
    so it serializes to the same bytes as the state of a model on the CPU."""
    host = copy.copy(state)
    host.update((key, tensor.cpu()) for key, tensor in state.items())
    return host


def checkpoint_bytes(method_cfg, factory: ModelFactory, budget: int, seed: int, state: dict) -> bytes:
    """The serialized checkpoint of a method's exported `state`: with the dense model's resolved config
    node, the method's, the parameter budget `build` is called with and the seed, it rebuilds the model."""
    checkpoint = {
        "format": FORMAT,
        "method_config": OmegaConf.to_container(method_cfg, resolve=True) if isinstance(method_cfg, DictConfig)
        else dict(method_cfg),
        "model": factory.as_record(),
        "params_budget": budget,
        "seed": seed,
        "state": on_host(state),  # it loads anywhere
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


def export_compressed(path: Path, method, method_cfg, factory: ModelFactory, budget: int, seed: int, model) -> int:
    """Save the compressed model; return its size in bytes, measured on the file."""
    data = checkpoint_bytes(method_cfg, factory, budget, seed, method.export_state(model))
    write_atomically(path, lambda tmp: tmp.write_bytes(data))
    return Path(path).stat().st_size


def load_compressed(path: Path, device: torch.device | str = "cpu", record: dict | None = None,
                    trusted_models: tuple[str, ...] = ()):
    """Rebuild the trained model from a compressed checkpoint, on `device` (in eval mode).

    The checkpoint's bytes must match the sha256 its run recorded: `record`'s, else that of the
    `result.json` beside it (a checkpoint without either is loaded unchecked). It may name only the
    project's own method and model classes, and the model classes the caller lists in `trusted_models`.
    """
    path = Path(path)
    if record is None:
        try:
            record = read_json_object(path.parent / RESULT_FILE) or {}
        except UnreadableStateFile:
            record = {}
    expected = record.get("checkpoint_sha256")
    actual = file_sha256(path) if expected is not None and path.is_file() else expected
    if actual != expected:
        raise UserError(f"checkpoint {path} is damaged or not its run's: its sha256 is {actual}, "
                        f"the record says {expected}")
    try:
        checkpoint = load_torch_dict(path)
    except UnreadableStateFile as err:
        raise UserError(f"checkpoint {path}: {err}") from None
    if checkpoint.get("format") != FORMAT:
        raise UserError(f"{path} is not a compressed checkpoint of format {FORMAT}")
    problem = _layout_problem(checkpoint)
    if problem:
        raise UserError(f"checkpoint {path}: {problem}")
    # the file is data: it may only name the project's own method and model classes
    require_shipped_targets(checkpoint["method_config"], "method", f"checkpoint {path}")
    require_shipped_targets(checkpoint["model"]["node"], "model", f"checkpoint {path}", also_trusted=trusted_models)
    factory = ModelFactory.from_record(checkpoint["model"])
    require_model_fits(factory.params_ref(), str(checkpoint["model"]["node"].get("name")), [torch.device("cpu")])
    method = load_method(checkpoint["method_config"])
    model = method.build(factory, checkpoint["params_budget"], checkpoint["seed"])
    method.load_state(model, checkpoint["state"])
    return model.to(device).eval()


def _layout_problem(checkpoint: dict) -> str | None:
    """What is missing or of the wrong type in a checkpoint of this format, or None."""
    expected = {"method_config": dict, "model": dict, "params_budget": int, "seed": int, "state": dict}
    for key, kind in expected.items():
        if not isinstance(checkpoint.get(key), kind) or isinstance(checkpoint.get(key), bool):
            return f"{key!r} is missing or not {kind.__name__}; the file is damaged or not a compressed checkpoint"
    model = checkpoint["model"]
    if not isinstance(model.get("node"), dict) or not isinstance(model.get("input_shape"), list) \
            or not isinstance(model.get("num_classes"), int):
        return "its model record lacks node, input_shape or num_classes; the file is damaged"
    return None
