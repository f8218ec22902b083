"""Where a report came from: when it was made, from which commit, and the commands that produced its runs.

Each run's record holds the command line of its own job (`python main.py key=value ...`) and its
commit (bench/run/provenance.py). The commands are folded back into sweeps: two commands that differ
in one key's value only become one with both values (`seed=1,2`), until nothing more folds, so a
3 x 3 sweep reads as the one `-m` command that ran it, never as a command that would run more.
"""
from __future__ import annotations

import collections
import datetime
import shlex
from fractions import Fraction

from bench.run.provenance import git_commit

PREFIX = ["python", "main.py"]


def origin_line(records: list[dict]) -> str:
    """`Made 2026-12-04 21:40 UTC with commit abc123...; runs from commit ...`."""
    made = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commits = collections.Counter(r.get("git_commit") for r in records)
    unknown = commits.pop(None, 0)
    runs = [f"{count} run{'s' * (count != 1)} at commit {commit}" for commit, count in commits.most_common()]
    if unknown:
        runs.append(f"{unknown} run{'s' * (unknown != 1)} with no commit recorded (records older than the field)")
    return (f"Made {made} by the code at commit {git_commit() or 'unknown (not a git clone)'}, from "
            f"{', '.join(runs)}; the commands that produced the runs close the report.")


def commands_section(records: list[dict]) -> str:
    """The folded commands in a code block, and how many runs recorded none."""
    commands = [r["command"] for r in records if isinstance(r.get("command"), str)]
    missing = len(records) - len(commands)
    parts = []
    if commands:
        block = "\n".join(f"    {line}" for line in folded_commands(commands))  # indented: a code block
        parts.append(f"Every run's own command, folded into sweeps (`-m`) where runs differ in one setting's values:"
                     f"\n\n{block}")
    if missing:
        parts.append(f"{missing} run{'s' * (missing != 1)} recorded no command (records older than the field).")
    return "\n\n".join(parts)


def folded_commands(commands: list[str]) -> list[str]:
    """`python main.py a=1 b=2` and `... a=1 b=3` -> `python main.py -m a=1 b=2,3`."""
    groups = collections.defaultdict(list)  # the same keys, in the same order
    for command in dict.fromkeys(commands):
        settings = _settings(command)
        if settings is None:
            groups[("", command)].append(None)  # not a `python main.py key=value` line: shown as it is
        else:
            groups[tuple(settings)].append({key: frozenset([value]) for key, value in settings.items()})
    lines = []
    for keys, sweeps in groups.items():
        if sweeps == [None]:
            lines.append(keys[1])
            continue
        for sweep in _fold(list(keys), sweeps):
            multirun = any(len(values) > 1 for values in sweep.values())
            words = PREFIX + (["-m"] if multirun else []) + [
                f"{key}={','.join(sorted(values, key=_natural))}" for key, values in sweep.items()]
            lines.append(" ".join(shlex.quote(word) for word in words))
    return sorted(lines)


def _settings(command: str) -> dict | None:
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if words[:2] != PREFIX or not all("=" in word for word in words[2:]):
        return None
    return dict(word.split("=", 1) for word in words[2:])


def _fold(keys: list[str], sweeps: list[dict]) -> list[dict]:
    """Merge sweeps equal on every key but one, over and over, until none merge."""
    merged_any = True
    while merged_any:
        merged_any = False
        for key in keys:
            by_rest: dict[tuple, dict] = {}
            for sweep in sweeps:
                rest = tuple(sweep[k] for k in keys if k != key)
                if rest in by_rest:
                    by_rest[rest] = {**by_rest[rest], key: by_rest[rest][key] | sweep[key]}
                    merged_any = True
                else:
                    by_rest[rest] = sweep
            sweeps = list(by_rest.values())
    return sweeps


def _natural(value: str):
    """Numbers and fractions in numeric order (`seed=2,10`, `ratio=1/64,1/8`), then text."""
    try:
        return (0, Fraction(value), value)
    except (ValueError, ZeroDivisionError):
        return (1, Fraction(0), value)
