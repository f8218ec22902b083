"""Where a job stands in Hydra: its sweep, if it is one of many, and the wandb group naming it."""
from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import OmegaConf


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


def sweep_overrides(config) -> list:
    """A sweep's overrides, parsed: its preset's `hydra.sweeper.params`, then its command line's."""
    preset = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    return OverridesParser.create().parse_overrides(preset + list(config.hydra.overrides.task))


def swept_keys(multirun_config: Path) -> list[str]:
    """The keys a sweep varies (its command line's lists and its preset's `hydra.sweeper.params`),
    read from the `multirun.yaml` the sweeper wrote in the sweep's directory; [] if unreadable."""
    try:
        overrides = sweep_overrides(OmegaConf.load(multirun_config))
    except Exception:  # a sweep without that file, or one that cannot be parsed: named by its folder alone
        return []
    return sorted({override.key_or_group for override in overrides if override.is_sweep_override()})


def sweep_group() -> str | None:
    """The wandb group of a sweep's runs: what it sweeps, then its unique folder name, e.g.
    `method x ratio x seed | curve_2026-01-02_03-04-05-678901`; None outside a sweep."""
    directory = sweep_dir()
    if directory is None:
        return None
    keys = swept_keys(directory / "multirun.yaml")
    tuning = "tuning " if HydraConfig.get().sweeper._target_.endswith("TuneSweeper") else ""
    return f"{tuning}{' x '.join(keys) or 'sweep'} | {directory.name}"
