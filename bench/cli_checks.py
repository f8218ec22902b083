"""Check config-group choices on the command line before Hydra composes the config.

Hydra reports an unknown choice (e.g. `method=foo`) in several lines and exits 1; the
harness promises one line naming the value and what is allowed, and exit status 2.
"""
from __future__ import annotations

from pathlib import Path


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
