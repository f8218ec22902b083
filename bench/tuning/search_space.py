"""A method's search space (the top-level `search_space` node its config file sets) and trials' values.

    search_space:
      train:
        lr: {type: float, low: 0.003, high: 0.3, log: true}
      method:
        rounds: {type: int, low: 1, high: 3}
        scope: {type: categorical, choices: [layer, global]}

Names are flattened to `train.lr`; a trial's values become `hparams` (bench/training/hparams.py).
"""
from __future__ import annotations

from omegaconf import OmegaConf

from bench.errors import UserError
from bench.training.hparams import TARGETS
from bench.run.setting_checks import is_int, is_number

KINDS = {"float": {"low", "high", "log"}, "int": {"low", "high", "log"}, "categorical": {"choices"}}


def _valid_range(spec: dict, is_value=is_number) -> bool:
    low, high, log = spec.get("low"), spec.get("high"), spec.get("log", False)
    return is_value(low) and is_value(high) and low < high and isinstance(log, bool) and (low > 0 or not log)


VALID = {"float": _valid_range, "int": lambda spec: _valid_range(spec, is_int),
         "categorical": lambda spec: isinstance(spec.get("choices"), list) and len(spec["choices"]) > 0}
RULE = {"float": "numbers low < high, low > 0 with log: true", "int": "integers low < high, low > 0 with log: true",
        "categorical": "a non-empty list of choices"}


def parameters(search_space) -> dict[str, dict]:
    """The flat parameter specs (`train.lr` -> {type, low, high, log}), checked."""
    space = OmegaConf.to_container(search_space, resolve=True) if search_space is not None else {}
    params = {}
    for target, options in space.items():
        if target not in TARGETS:
            raise UserError(f"search_space.{target}: unknown; a search space covers {' and '.join(TARGETS)} keys")
        for name, spec in _leaves(options, target).items():
            kind = spec.get("type")
            if kind not in KINDS:
                raise UserError(f"search_space.{name}.type={kind!r}: allowed: {', '.join(KINDS)}")
            extra = set(spec) - KINDS[kind] - {"type"}
            if extra or not VALID[kind](spec):
                raise UserError(f"search_space.{name}: {spec} is not a valid {kind} range "
                                f"(keys: {', '.join(sorted(KINDS[kind]))}; {RULE[kind]})")
            params[name] = spec
    if not params:
        raise UserError("search_space is empty for this method; nothing to tune (set it in conf/method/NAME.yaml)")
    return params


def _leaves(options: dict, prefix: str) -> dict[str, dict]:
    """Parameter specs are the dicts holding `type`; other dicts nest deeper (e.g. method.student)."""
    leaves = {}
    for key, value in options.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict) and "type" not in value:
            leaves.update(_leaves(value, name))
        else:
            leaves[name] = value if isinstance(value, dict) else {"type": None}
    return leaves


def suggest(trial, params: dict[str, dict]) -> dict:
    """One value per parameter from an Optuna trial."""
    values = {}
    for name, spec in params.items():
        if spec["type"] == "categorical":
            values[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec["type"] == "int":
            values[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec.get("log", False))
        else:
            values[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec.get("log", False))
    return values


def hparam_overrides(values: dict) -> list[str]:
    """Hydra command-line overrides that set a trial's values as hparams."""
    return [f"++hparams.{name}={value!r}" if isinstance(value, float) else f"++hparams.{name}={value}"
            for name, value in values.items()]


def distribution(spec: dict):
    """The Optuna distribution a parameter spec samples from."""
    import optuna

    if spec["type"] == "categorical":
        return optuna.distributions.CategoricalDistribution(spec["choices"])
    kind = optuna.distributions.IntDistribution if spec["type"] == "int" else optuna.distributions.FloatDistribution
    return kind(spec["low"], spec["high"], log=spec.get("log", False))


def outside_space(values: dict, params: dict[str, dict], partial: bool = False) -> str | None:
    """Why a trial's values are not a point of the search space (a name or value it does not have), or None.
    `partial`: values of a trial still being asked, which need not name every parameter yet."""
    if not set(values) <= set(params) or not partial and set(values) != set(params):
        return f"its parameters {sorted(values)} are not the search space's {sorted(params)}"
    for name, value in values.items():
        spec = params[name]
        if spec["type"] == "categorical":
            fits = value in spec["choices"]
        else:
            is_value = is_int if spec["type"] == "int" else is_number
            fits = is_value(value) and spec["low"] <= value <= spec["high"]
        if not fits:
            return f"{name}={value!r} is outside the search space ({spec})"
    return None
