"""Where a job stands in Hydra: its sweep, if it is one of many."""
from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode


def sweep_dir() -> Path | None:
    """The sweep's directory under multirun, else None."""
    if not HydraConfig.initialized():  # run() called directly, e.g. from a test
        return None
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None


def sweep_name() -> str | None:
    """The sweep's directory name (groups its wandb runs), else None."""
    directory = sweep_dir()
    return directory.name if directory else None
