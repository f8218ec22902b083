"""The callables a file the harness reads back may name: only the project's own, as its configs name them.

A checkpoint rebuilds its model from config nodes it carries, and a node names a callable in
`_target_`. The configs a user writes are trusted; a file is not (whoever hands over a checkpoint
can write any `_target_` into it, `subprocess.call` included). So a node read from a file is
called only when every `_target_` in it is one that `conf/<group>/` itself names.
"""
from __future__ import annotations

import functools
import yaml

from bench.components import CONF_DIR
from bench.errors import UserError


@functools.cache
def shipped_targets(group: str) -> frozenset[str]:
    """Every `_target_` named in the config files of `conf/<group>/` (nested nodes included)."""
    targets: set[str] = set()
    for path in sorted((CONF_DIR / group).glob("*.yaml")):
        _collect_targets(yaml.safe_load(path.read_text()), targets)
    return frozenset(targets)


def require_shipped_targets(node, group: str, source, also_trusted=()) -> None:
    """UserError, naming `source` and the target, unless every `_target_` in `node` is one of `group`'s
    (or of `also_trusted`: callables the calling code itself vouches for, e.g. a test's own model)."""
    found: set = set()
    _collect_targets(node, found)
    if not found:
        raise UserError(f"{source}: its {group} node names no _target_; expected one of the project's own")
    for target in sorted(found):
        if target not in shipped_targets(group) and target not in also_trusted:
            raise UserError(f"{source}: refusing to call {target!r} named by the file; a {group} rebuilt from a "
                            f"file must be one of the project's own: {', '.join(sorted(shipped_targets(group)))}")


def _collect_targets(node, into: set) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_":  # a crafted file may hold any type here: a non-string is named by its repr
                into.add(value if isinstance(value, str) else repr(value))
            else:
                _collect_targets(value, into)
    elif isinstance(node, list):
        for value in node:
            _collect_targets(value, into)
