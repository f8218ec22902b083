"""Reading the harness's own state files (records, manifests, checkpoints, teachers), and moving bad ones aside.

A state file that cannot be read, or holds the wrong kind of thing, is treated as absent: its owner
moves it aside with `quarantine` (renamed `NAME.corrupt-<n>` beside it, never deleted) and redoes
the work, so no one has to delete a file by hand for a run to go on.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch

log = logging.getLogger("bench")


class UnreadableStateFile(Exception):
    """A state file that is present but cannot be used; the message says why."""


def read_json_object(path: Path) -> dict | None:
    """The JSON object in `path`; None when there is no file; UnreadableStateFile when it is not one."""
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise UnreadableStateFile("a folder, not a file") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as err:  # ValueError: bad JSON, or a 5,000-digit number
        raise UnreadableStateFile(f"not JSON ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(data, dict):
        raise UnreadableStateFile(f"a JSON {type(data).__name__}, not an object")
    return data


def load_torch_dict(path: Path) -> dict:
    """The dict `torch.save` stored in `path` (tensors only, no code: weights_only); UnreadableStateFile
    when the file is truncated, garbage or holds something else."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- the unpickler, fed garbage, raises anything: KeyError, IndexError...
        raise UnreadableStateFile(f"unreadable, truncated or not a checkpoint ({_torch_reason(err)})") from None
    if not isinstance(data, dict):
        raise UnreadableStateFile(f"holds a {type(data).__name__}, not a dict")
    return data


def _torch_reason(err: Exception) -> str:
    """The useful part of torch.load's message: its weights-only unpickling error suggests weights_only=False,
    which would run whatever code the file holds; a zip error goes on about miniz internals."""
    text = str(err)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0].split('. ')[0] if lines else 'empty or cut short'}"


def quarantine(path: Path, why: str) -> Path:
    """Move a bad state file aside as `NAME.corrupt-<n>` (the first free n) and warn; return where it went."""
    path = Path(path)
    n = 1
    while path.with_name(f"{path.name}.corrupt-{n}").exists():
        n += 1
    target = path.with_name(f"{path.name}.corrupt-{n}")
    path.rename(target)
    log.warning("%s: %s; moved aside to %s, treated as absent", path, why, target.name)
    return target


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
