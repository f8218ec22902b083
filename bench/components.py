"""Build data sets and methods from their Hydra config nodes.

A node names a callable in `_target_`, a display `name`, and keyword options. New data
sets and methods plug in by adding a config file; no central registry to edit.
"""
from __future__ import annotations

from pathlib import Path

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from bench.errors import UserError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"  # the project's config groups


def options_of(node) -> dict:
    """The node's keyword options as plain Python values (without `_target_` and `name`)."""
    options = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    options.pop("_target_", None)
    options.pop("name", None)
    return options


def call_target(node):
    """Call `node._target_(**options)`; an unknown option is the user's error, said in one line."""
    target = get_object(node["_target_"])
    options = options_of(node)
    try:
        return target(**options)
    except TypeError as err:
        if "unexpected keyword argument" in str(err) or "takes no arguments" in str(err):
            raise UserError(f"{node.get('name', node['_target_'])}: {err}") from None
        raise
