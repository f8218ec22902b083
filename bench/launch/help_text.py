"""`--help`: the config groups a user chooses from, read from conf/ (conf/hydra/help/bench.yaml)."""
from __future__ import annotations

from pathlib import Path

# chosen by other configs, never on the command line: a method's config picks its search space
INTERNAL_GROUPS = {"hydra", "search_space"}


def user_groups(conf_dir: Path) -> str:
    """One line per group: `  NAME: OPTION, OPTION, ...`; Hydra's launcher group last."""
    groups = [p for p in sorted(conf_dir.iterdir()) if p.is_dir() and p.name not in INTERNAL_GROUPS]
    groups.append(conf_dir / "hydra" / "launcher")
    return "\n".join(f"  {group.relative_to(conf_dir).as_posix()}: {', '.join(sorted(p.stem for p in group.glob('*.yaml')))}"
                     for group in groups)
