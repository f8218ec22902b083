"""A run's identity: the hash of its resolved experiment config, which names its directory.

The same experiment has the same identity on every machine and in every launch, so a complete
run is found and skipped (bench/run/resume.py).
"""
from __future__ import annotations

from omegaconf import OmegaConf, open_dict

from bench.run.settings import parse_ratio
from bench.storage.digest import json_digest

# Keys that change where or how a run is reported, or whether it is redone, not what it computes.
# `tuned` is resolved into `hparams` (part of the experiment) before the run is claimed; `tune` and
# `search_space` steer studies (bench/tuning/study.py), and `protocol` the protocol's phases
# (experiment=paper), not what one run computes; `population` sizes a sweep's populations
# (hydra/launcher=population), which train each run as it would alone. `device` decides
# where it computes: a GPU's numbers may differ in the last bits, so the record says which device ran.
# `threads` and `flush_denormal` (bench/machine/cpu.py) decide how fast the CPU computes; the thread count may
# change float rounding and flushing changes only numbers below 1.2e-38, so the record says which were used.
NOT_PART_OF_EXPERIMENT = ("logger", "output_root", "data_root", "rerun", "tuned", "tune", "search_space", "protocol",
                          "device", "threads", "flush_denormal", "population")
# A task node's hooks (bench/run/task.py) say how the harness prepares and reports a run, not what it computes.
TASK_HOOKS = ("start", "report_section")
PATH_KEYS = ("output_root", "data_root")  # also interpolated elsewhere, e.g. `dataset.root`
# Options at the value that is what every run did before the option existed: left out of the identity
# there, so adding the option does not rename those runs (dotted: a key inside a node). The recipe's
# input scale (`train.center_inputs`, also in a teacher's recipe) is on by default: such runs are new.
IMPLICIT_DEFAULTS = {"budget": {"unit": "params"}, "precision": "fp32", "train.center_inputs": False,
                     "method.teacher_train.center_inputs": False}


def experiment_config(cfg) -> dict:
    """The resolved config that defines the experiment (no Hydra, logging or path keys).

    Paths read as `<data_root>` wherever they are interpolated, and the ratio is written one way
    (`0.125` -> `1/8`), so the same experiment has the same config (and hash) on every machine;
    IMPLICIT_DEFAULTS are left out.
    """
    cfg = cfg.copy()
    with open_dict(cfg):
        for key in PATH_KEYS:
            if key in cfg:
                cfg[key] = f"<{key}>"
        cfg.pop("hydra", None)  # Hydra's own node resolves only inside a job
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for key in NOT_PART_OF_EXPERIMENT:
        resolved.pop(key, None)
    for key in TASK_HOOKS:
        resolved.get("task", {}).pop(key, None)
    if "ratio" in resolved:
        resolved["ratio"] = str(parse_ratio(resolved["ratio"]))
    for key, default in IMPLICIT_DEFAULTS.items():
        *path, leaf = key.split(".")
        node = resolved
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node and node[leaf] == default:
            del node[leaf]
    return resolved


def config_hash(cfg) -> str:
    return json_digest(experiment_config(cfg), 16, compact=True)
