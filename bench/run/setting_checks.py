"""Every setting of a run checked in one place, before any data is loaded or any directory claimed.

A bad value ends the run with one line naming the key, the value and what is allowed, e.g.
`train.epochs='abc' must be a positive integer` (bench/errors.py). Keys nobody defined, such as
`+train.epoch=5` (a typo Hydra would add silently), are refused with the closest known key.
"""
from __future__ import annotations

import difflib
import math
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf, open_dict

from bench.run.settings import parse_budget_unit, parse_ratio
from bench.machine.cpu import thread_count
from bench.errors import UserError
from bench.training.hparams import with_hparams
from bench.machine.precision import PRECISIONS

# Nodes whose keys are options of a component (method, data set, model, ...): an added key there
# reaches the component's constructor, which refuses one it does not take (bench/components.py).
# `hparams` is checked against `train` and `method` by bench/training/hparams.py.
OPEN_NODES = ("hparams", "method", "dataset", "model", "task", "logger", "hydra")


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


FLOAT32_MAX = 3.4028234663852886e38  # the recipe computes in float32: a larger number overflows mid-step
SEED_MAX = 2**32 - 1  # numpy's and the hash streams' seeds are 32-bit


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and abs(value) <= FLOAT32_MAX


POSITIVE_INT = (lambda v: is_int(v) and v > 0, "a positive integer")
NON_NEGATIVE_INT = (lambda v: is_int(v) and v >= 0, "an integer >= 0")
SEED = (lambda v: is_int(v) and 0 <= v <= SEED_MAX, f"an integer in [0, {SEED_MAX}]")
POSITIVE_NUMBER = (lambda v: is_number(v) and v > 0, "a number > 0")
NON_NEGATIVE_NUMBER = (lambda v: is_number(v) and v >= 0, "a number >= 0")
FRACTION = (lambda v: is_number(v) and 0 <= v < 1, "a number in [0, 1)")
DECAY = (lambda v: is_number(v) and 0 < v <= 1, "a number in (0, 1]")
FACTOR = (lambda v: is_number(v) and v >= 1, "a number >= 1")
BOOLEAN = (lambda v: isinstance(v, bool), "true or false")
PATH = (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty path")
WIDTHS = (lambda v: isinstance(v, list) and all(is_int(w) and w > 0 for w in v),
          "a list of positive integers, e.g. [1000]")
POSITIVE_INTS = (lambda v: isinstance(v, list) and len(v) > 0 and all(is_int(w) and w > 0 for w in v),
                 "a non-empty list of positive integers, e.g. [10, 20]")
POSITIVE_NUMBERS = (lambda v: isinstance(v, list) and len(v) > 0 and all(is_number(w) and w > 0 for w in v),
                    "a non-empty list of numbers > 0, e.g. [0.1, 1]")

TRAIN_RULES = {"epochs": POSITIVE_INT, "patience": POSITIVE_INT, "batch_size": POSITIVE_INT, "lr": POSITIVE_NUMBER,
               "momentum": FRACTION, "lr_decay": DECAY, "weight_decay": NON_NEGATIVE_NUMBER,
               "dropout_input": FRACTION, "dropout_hidden": FRACTION, "divergence_factor": FACTOR,
               "center_inputs": BOOLEAN}
RULES = {"seed": SEED, "evaluate_test": BOOLEAN, "rerun": BOOLEAN, "tuned": BOOLEAN,
         "flush_denormal": BOOLEAN, "precision": (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
         "output_root": PATH, "data_root": PATH,
         "tune.n_trials": POSITIVE_INT, "tune.seed": SEED, "tune.parallel_trials": POSITIVE_INT,
         "tune.startup_trials": NON_NEGATIVE_INT, "population.max_size": POSITIVE_INT,
         "model.hidden": WIDTHS, "model.width": POSITIVE_NUMBER, "logger.init_timeout": POSITIVE_NUMBER}
DIRECTORY_KEYS = ("output_root", "data_root")  # may not exist yet, but must not be a file


def check_settings(cfg: DictConfig, task_overrides: list[str], groups: set[str]) -> None:
    """Raise UserError for the first bad setting of `cfg`.

    `task_overrides`: the job's overrides (its command line); `groups`: the config groups (method, ...).
    """
    for override in task_overrides:
        refuse_added_key(override, cfg, groups)
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)  # Hydra's own node resolves only inside a job
    values = OmegaConf.to_container(cfg, resolve=True)
    for key, rule in RULES.items():
        _check(key, _lookup(values, key), rule)
    for key in DIRECTORY_KEYS:
        if Path(values[key]).is_file():
            raise UserError(f"{key}={values[key]!r} is a file; it must be a directory (or a path not yet created)")
    parse_ratio(values["ratio"])
    parse_budget_unit(values["budget"]["unit"])
    thread_count(values["threads"])
    train, _ = with_hparams(cfg)  # also refuses hparams naming no train or method key
    for key, rule in TRAIN_RULES.items():
        where = f"hparams.train.{key}" if key in (values["hparams"] or {}).get("train", {}) else f"train.{key}"
        _check(where, train[key], rule)
    task_check = values["task"].get("check")  # a task's own settings (the theory experiments'), named by its node
    if task_check:
        get_object(task_check)(cfg)


def check_node(node: str, cfg: DictConfig, rules: dict) -> None:
    """Check each key of the config node `node` (a task's own settings) against its rule."""
    values = OmegaConf.to_container(cfg[node], resolve=True)
    for key, rule in rules.items():
        _check(f"{node}.{key}", values.get(key), rule)


def refuse_added_key(override: str, cfg: DictConfig, groups: set[str]) -> None:
    """`+KEY=VALUE` adds KEY: refused where the config defines the keys (the recipe, top-level settings)."""
    try:
        (parsed,) = OverridesParser.create().parse_overrides([override])
    except Exception:  # Hydra parsed it already; whatever it cannot parse here is not an added key
        return
    key = parsed.key_or_group
    if not parsed.is_add() or key in groups or key.split(".")[0].split("/")[0] in OPEN_NODES:
        return
    raise UserError(unknown_key_message(key, known_keys(cfg, without=key)))


def unknown_key_message(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]}?" if close else "; see conf/config.yaml for the settings"
    return f"unknown setting {key!r}{hint}"


def known_keys(cfg, without: str | None = None, prefix: str = "") -> list[str]:
    """Dotted names of every key in `cfg` (without Hydra's node), leaves and nodes alike."""
    keys = []
    for name, value in cfg.items_ex(resolve=False):
        dotted = f"{prefix}{name}"
        if dotted in ("hydra", without):
            continue
        keys.append(dotted)
        if isinstance(value, DictConfig):
            keys.extend(known_keys(value, without, f"{dotted}."))
    return keys


def _lookup(values: dict, dotted: str):
    node = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _check(key: str, value, rule) -> None:
    if value is None and key.startswith(("model.", "logger.")):
        return  # an option this model family (or logger) does not have
    accepts, allowed = rule
    if not accepts(value):
        if isinstance(value, float) and math.isfinite(value) and abs(value) > FLOAT32_MAX:
            allowed += f" no larger than {FLOAT32_MAX:.4g} (float32's largest, which the recipe computes in)"
        raise UserError(f"{key}={value!r} must be {allowed}")
