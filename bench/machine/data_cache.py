"""Data sets read once per process: a sweep worker (joblib keeps its processes for the next runs)
gives its later runs the tensors its first run read, instead of reading the files again.

Loaders draw from their own seeded generators (never the global one), so reading or reusing gives
the same data and leaves the run's random numbers alone. Each run gets its own copy of the cached
tensors: nothing a run does to its data reaches the next run.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging

from omegaconf import OmegaConf

from bench.components import call_target

log = logging.getLogger("bench")

# The last data set read, keyed by its resolved config node (paths included): a worker's runs
# usually share one data set, and one is all the memory this keeps.
_last: dict[str, object] = {}


def load_dataset(node):
    """The DataSplits `node` describes: read on first use, afterwards a copy of the one in memory."""
    key = json.dumps(OmegaConf.to_container(node, resolve=True), sort_keys=True)
    if key in _last:
        log.info("data set %s: reused from this process's memory (read by an earlier run)", node.get("name"))
    else:
        _last.clear()
        _last[key] = call_target(node)
    return private_copy(_last[key])


def private_copy(data):
    """`data` with its own tensors and notes (an augmentation function holds no state)."""
    return dataclasses.replace(data.with_tensors(lambda tensor: tensor.clone()), notes=copy.deepcopy(data.notes))
