"""Per-cell hyperparameters: deviations from the shared recipe (`train`) and from the method's
options, for the model under test only (a dark-knowledge teacher keeps the shared recipe).

    hparams: {train: {lr: 0.03, dropout_hidden: 0.1}, method: {temperature: 2.0}}

A tuning study finds them per cell (bench/tuning/); `tuned=true` takes the study's best.
"""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from bench.errors import UserError

TARGETS = ("train", "method")


def with_hparams(cfg: DictConfig) -> tuple[DictConfig, DictConfig]:
    """The (train, method) nodes with `cfg.hparams` merged in, resolved.

    An hparam must name an existing key of its target: a typo is an error, not a silent no-op.
    """
    hparams = OmegaConf.to_container(cfg.hparams, resolve=True) or {}
    unknown = set(hparams) - set(TARGETS)
    if unknown:
        raise UserError(f"hparams.{sorted(unknown)[0]}: unknown; hparams may only change {' and '.join(TARGETS)} keys")
    merged = []
    for target in TARGETS:
        base = OmegaConf.to_container(cfg[target], resolve=True)
        _require_known(hparams.get(target, {}), base, f"hparams.{target}")
        merged.append(OmegaConf.merge(base, hparams.get(target, {})))
    return tuple(merged)


def _require_known(changes: dict, base: dict, where: str) -> None:
    for key, value in changes.items():
        if key not in base:
            raise UserError(f"{where}.{key}: no such key in {where.split('.', 1)[1]}; known: {', '.join(sorted(base))}")
        if isinstance(value, dict):
            _require_known(value, base[key], f"{where}.{key}")


def flat(hparams: dict, prefix: str = "") -> dict:
    """{"train": {"lr": 0.1}} -> {"train.lr": 0.1}."""
    out = {}
    for key, value in hparams.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def nested(values: dict) -> dict:
    """{"train.lr": 0.1} -> {"train": {"lr": 0.1}}."""
    out: dict = {}
    for name, value in values.items():
        *path, leaf = name.split(".")
        node = out
        for key in path:
            node = node.setdefault(key, {})
        node[leaf] = value
    return out
