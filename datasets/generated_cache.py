"""A disk cache for generated data sets: arrays plus a manifest that says how they were made.

CACHE_DIR/NAME/KEY/{arrays.npz, manifest.json}, KEY a hash of everything that shapes the
arrays (generator version, seed, base, sizes, options). A cache whose arrays do not match
the manifest's checksum, or whose manifest cannot be read, is regenerated, loudly, never used;
the rejected files are moved aside (`.corrupt-<n>`), not overwritten.
"""
from __future__ import annotations

import hashlib
import logging
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from bench.storage.files import write_atomically, write_json_atomically
from bench.storage.state_files import UnreadableStateFile, quarantine, read_json_object
from bench.storage.digest import json_digest

log = logging.getLogger(__name__)


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over every array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def cached_arrays(cache_dir: str | Path, name: str, recipe: dict, generate: Callable[[], tuple[dict, dict]]):
    """(arrays, manifest): read from the cache when it holds `recipe` intact, else generated and stored.

    `generate()` returns (arrays, extra manifest fields). `recipe` (JSON-able) must hold all
    that decides the arrays.
    """
    key = json_digest(recipe, 16)
    folder = Path(cache_dir) / name / key
    arrays_path, manifest_path = folder / "arrays.npz", folder / "manifest.json"
    problem = None
    try:
        manifest = read_json_object(manifest_path)
    except UnreadableStateFile as err:
        manifest, problem = None, f"{manifest_path.name} {err}"
    if manifest is not None:
        arrays, problem = _read_checked(arrays_path, manifest)
        if problem is None:
            return arrays, {**manifest, "cache": str(folder), "from_cache": True}
    if problem is not None:
        _reject(folder, problem, manifest_path, arrays_path)
    arrays, extra = generate()
    manifest = {**recipe, **extra, "checksum_sha256": checksum(arrays)}
    write_atomically(arrays_path, lambda tmp: _save_npz(tmp, arrays))
    write_json_atomically(manifest_path, manifest)
    return arrays, {**manifest, "cache": str(folder), "from_cache": False}


def _reject(folder: Path, problem: str, *files: Path) -> None:
    """Say loudly that the cache is regenerated, and move its files aside."""
    log.warning("=" * 78)
    log.warning("CACHE REJECTED: %s: %s; regenerating it.", folder, problem)
    log.warning("=" * 78)
    for path in files:
        if path.exists():
            quarantine(path, "rejected cache file")


def _read_checked(path: Path, manifest: dict) -> tuple[dict | None, str | None]:
    try:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        return None, f"{path.name} unreadable ({err})"
    found = checksum(arrays)
    if found != manifest.get("checksum_sha256"):
        return None, (f"{path.name}: checksum {found[:12]}... does not match the manifest's "
                      f"{str(manifest.get('checksum_sha256'))[:12]}...")
    return arrays, None


def _save_npz(path: Path, arrays: dict) -> None:
    with open(path, "wb") as file:
        np.savez(file, **arrays)
