"""Check the command line before Hydra runs the job.

Hydra reports an unknown choice (e.g. `method=foo`) or key (`train.epoch=5`) in several lines and
exits 1; the harness promises one line naming the value and what is allowed, and exit status 2.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from bench.run.setting_checks import OPEN_NODES, known_keys, unknown_key_message


def unknown_group_choice(argv: list[str], conf_dir: Path) -> str | None:
    """The error line for the first `GROUP=OPTION` naming no `conf/GROUP/OPTION.yaml`, else None.

    Sweep lists (`method=nn,hashednets`) are checked item by item; sweep functions such as
    `choice(...)` and `range(...)`, and Hydra's own groups (`hydra/launcher=basic`), are left to Hydra.
    """
    for arg in argv:
        key, sep, value = arg.lstrip("+").partition("=")
        group_dir = conf_dir / key
        if not sep or key.startswith("hydra") or not group_dir.is_dir() or "(" in value or "[" in value or value == "null":
            continue
        allowed = sorted(p.stem for p in group_dir.glob("*.yaml"))
        for option in value.split(","):
            if option not in allowed:
                return f"{key}={option!r} is unknown; allowed: {', '.join(allowed)}"
    return None


# Hydra's options that choose another primary config: the checks below compose `config` only.
OTHER_CONFIG_FLAGS = ("-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir")
_ABSENT = object()
# Hydra's flags whose next argument is their value, not an override
FLAGS_WITH_A_VALUE = ("--cfg", "-c", "--package", "-p", "--info", "-i", "--experimental-rerun")


def launch_problem(argv: list[str], conf_dir: Path) -> str | None:
    """The error line for a misspelled key (`train.epoch=5`), a key added outside the component nodes
    (`+train.epoch=5`, see bench/run/setting_checks.py) or an unusable `output_root`, else None.

    Hydra reports an unknown key in five lines, exit 1, and creates `output_root/launches/` before the
    job starts (at the file-system root for `output_root=`): all are checked here first, on the config
    the command line composes (group sweeps by their first choice). What this cannot compose is left to Hydra.
    """
    if any(arg.split("=")[0] in OTHER_CONFIG_FLAGS for arg in argv):
        return None
    parser = OverridesParser.create()
    composing, values, hydra_options = [], [], []
    flag_values = {i + 1 for i, arg in enumerate(argv) if arg in FLAGS_WITH_A_VALUE}  # e.g. `job` of `--cfg job`
    for index, arg in enumerate(argv):
        if arg.startswith("-") or index in flag_values:
            continue
        try:
            (override,) = parser.parse_overrides([arg])
        except Exception as err:  # noqa: BLE001 -- Hydra's parser says what is wrong, in several lines
            return f"cannot read the override {arg!r}: {_first_line(err)} (Hydra's override grammar)"
        key = override.key_or_group
        if key.startswith("hydra"):
            if not override.is_sweep_override():
                hydra_options.append(arg)
            # Hydra's log folders: a path Hydra cannot create ends in its traceback
            if key in ("hydra.run.dir", "hydra.sweep.dir") and "${" not in str(override.value()):
                problem = output_root_problem(override.value(), key)
                if problem:
                    return problem
            continue
        if (conf_dir / key).is_dir():
            if override.is_sweep_override():
                if not override.is_discrete_sweep():
                    return None
                arg = f"{key}={next(override.sweep_string_iterator())}"
            composing.append(arg)
        elif override.is_delete() or (override.is_add() or override.is_force_add()) and key.split(".")[0] in OPEN_NODES:
            composing.append(arg)
        else:
            values.append(override)
    try:
        with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base="1.3"):
            cfg = compose("config", overrides=composing)
    except Exception:
        return None
    for override in values:
        key = override.key_or_group
        exists = OmegaConf.select(cfg, key, default=_ABSENT) is not _ABSENT
        if not exists:
            return unknown_key_message(key, known_keys(cfg))
        if override.is_add():  # Hydra's own complaint: "Could not append to config", five lines
            return f"{key!r} is a known setting: set it without '+', e.g. {override.input_line.lstrip('+')}"
    output_root = cfg.output_root
    for override in values:
        if override.key_or_group == "output_root" and not override.is_sweep_override():
            output_root = override.value()
    return output_root_problem(output_root) or hydra_option_problem(conf_dir, composing, hydra_options)


def hydra_option_problem(conf_dir: Path, composing: list[str], hydra_options: list[str]) -> str | None:
    """One line for a value Hydra's own options cannot take (`hydra.launcher.n_jobs=abc`), which Hydra
    reports in several lines; None when they compose."""
    if not hydra_options:
        return None
    try:
        with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base="1.3"):
            compose("config", overrides=composing + hydra_options, return_hydra_config=True)
    except Exception as err:  # noqa: BLE001 -- Hydra wraps the reason (its __cause__) in its own message
        reason = f": {_first_line(err.__cause__)}" if err.__cause__ is not None else ""
        return f"{_first_line(err).removeprefix('Error merging override ')}{reason}"
    return None


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def output_root_problem(output_root, key: str = "output_root") -> str | None:
    """Why files cannot be written under the folder `key` names (empty, a file, not writable), else None."""
    if output_root is None or str(output_root).strip() == "":
        return f"{key}={output_root!r} must be a non-empty path (where runs are written, e.g. outputs)"
    existing = Path(str(output_root)).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{key}={str(output_root)!r}: {existing} is a file; it must be a directory"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        return f"cannot write {existing}: {err.strerror} ({key}={str(output_root)!r})"
    return None

