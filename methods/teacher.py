"""The dense teacher of dark knowledge: trained once per (data, model, seed, recipe), cached on disk.

The cache key hashes the data actually used (name and the bytes of the training and
validation tensors), the model's resolved config node and input, the seed and the training
recipe, so every run of a sweep that would train the same teacher reuses it. The teacher is
selected on validation error like every model; the file is written atomically. A cached file that
cannot be read, or is not this key's teacher, is moved aside (`.corrupt-<n>`) and the teacher retrained.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch
from torch import nn

from bench.compression.checkpoint import on_host
from bench.storage.files import write_atomically
from bench.compression.model_factory import ModelFactory
from bench.storage.state_files import UnreadableStateFile, load_torch_dict, quarantine
from bench.storage.digest import json_digest

log = logging.getLogger("bench")
FORMAT = "compression-bench/teacher/v2"


def data_digest(data) -> str:
    """sha256 of the training and validation tensors (the test set plays no part in a teacher)."""
    digest = hashlib.sha256()
    for tensor in (data.train_x, data.train_y, data.val_x, data.val_y):
        digest.update(tensor.cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def teacher_key(factory: ModelFactory, trainer, data) -> dict:
    return {"dataset": data.name, "data_sha256": data_digest(data), "model": factory.as_record(),
            "recipe": trainer.recipe()}


def cached_teacher(factory: ModelFactory, trainer, data, cache_dir: Path,
                   device: torch.device) -> tuple[nn.Module, dict]:
    """The trained dense teacher for this run on `device` (loaded or trained and stored), and notes on
    it. The cache holds host tensors: a teacher trained on one device is reused on any other."""
    key = teacher_key(factory, trainer, data)
    key_hash = json_digest(key, 16)
    path = Path(cache_dir) / f"teacher-{key_hash}.pt"
    with torch.random.fork_rng():  # the run's own random stream is the same whether or not it is cached
        torch.manual_seed(trainer.seed)
        teacher = factory.build().to(device)  # built on the host: the same weights on every device
        if path.exists():
            try:
                return teacher.eval(), _load(teacher, path, key)
            except UnreadableStateFile as err:
                quarantine(path, f"not a usable cached teacher: {err}")
        log.info("dark knowledge: training the dense teacher (cached as %s)", path)
        fit = trainer.fit(teacher, data, phase="teacher")
    checkpoint = {"format": FORMAT, "key": key, "state": on_host(teacher.state_dict()),
                  "val_error": fit.best_val_error, "best_epoch": fit.best_epoch}
    write_atomically(path, lambda tmp: torch.save(checkpoint, tmp))
    return teacher.eval(), {"cache_file": str(path), "reused": False, "val_error": fit.best_val_error,
                            "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run}


def _load(teacher: nn.Module, path: Path, key: dict) -> dict:
    """Load the cached weights into `teacher`; UnreadableStateFile when the file is not this key's teacher."""
    cached = load_torch_dict(path)
    if cached.get("format") != FORMAT or cached.get("key") != key:
        raise UnreadableStateFile(f"not of format {FORMAT} with this run's key")
    state, fresh = cached.get("state"), teacher.state_dict()
    # checked before loading, so a bad file leaves the fresh teacher untouched for retraining
    if not isinstance(state, dict) or state.keys() != fresh.keys() or any(
            not isinstance(state[name], torch.Tensor) or state[name].shape != fresh[name].shape for name in fresh):
        raise UnreadableStateFile("its weights do not fit this teacher's model")
    try:
        val_error, best_epoch = float(cached["val_error"]), int(cached["best_epoch"])
    except (KeyError, TypeError, ValueError) as err:
        raise UnreadableStateFile(f"ill-formed ({type(err).__name__}: {err})") from None
    teacher.load_state_dict(state)
    log.info("dark knowledge: reusing the cached teacher %s (val error %.2f%%)", path, 100 * val_error)
    return {"cache_file": str(path), "reused": True, "val_error": val_error, "best_epoch": best_epoch}
