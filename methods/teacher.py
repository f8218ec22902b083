"""The dense teacher of dark knowledge: trained once per (data, model, seed, recipe), cached on disk.

The cache key hashes the data actually used (name and the bytes of the training and
validation tensors), the model's resolved config node and input, the seed and the training
recipe, so every run of a sweep that would train the same teacher reuses it. The teacher is
selected on validation error like every model; the file is written atomically.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from torch import nn

from bench.errors import UserError
from bench.export import on_host
from bench.files import write_atomically
from bench.model_factory import ModelFactory

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
    key_hash = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"teacher-{key_hash}.pt"
    with torch.random.fork_rng():  # the run's own random stream is the same whether or not it is cached
        torch.manual_seed(trainer.seed)
        teacher = factory.build().to(device)  # built on the host: the same weights on every device
        if path.exists():
            return teacher.eval(), _load(teacher, path, key)
        log.info("dark knowledge: training the dense teacher (cached as %s)", path)
        fit = trainer.fit(teacher, data, phase="teacher")
    checkpoint = {"format": FORMAT, "key": key, "state": on_host(teacher.state_dict()),
                  "val_error": fit.best_val_error, "best_epoch": fit.best_epoch}
    write_atomically(path, lambda tmp: torch.save(checkpoint, tmp))
    return teacher.eval(), {"cache_file": str(path), "reused": False, "val_error": fit.best_val_error,
                            "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run}


def _load(teacher: nn.Module, path: Path, key: dict) -> dict:
    cached = torch.load(path, map_location="cpu", weights_only=True)
    if cached.get("format") != FORMAT or cached.get("key") != key:
        raise UserError(f"{path} is not the teacher for this run's key; remove it to retrain")
    teacher.load_state_dict(cached["state"])
    log.info("dark knowledge: reusing the cached teacher %s (val error %.2f%%)", path, 100 * cached["val_error"])
    return {"cache_file": str(path), "reused": True, "val_error": cached["val_error"],
            "best_epoch": cached["best_epoch"]}
