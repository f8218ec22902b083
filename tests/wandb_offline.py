"""Read back what wandb wrote in an offline run (its `.wandb` file), for the tests.

The file is a 7-byte header (":W&B", magic, version) followed by a LevelDB-style log:
32 KiB blocks of records, each with a 7-byte header (crc32, length, type) and a chunk of
a protobuf `Record`; a record may span blocks (types FIRST, MIDDLE, LAST).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32768
FILE_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path):
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb transaction log"
    pos, pending = FILE_HEADER, b""
    while pos + 7 <= len(data):
        room = BLOCK - pos % BLOCK
        if room < 7:  # block trailer padding
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def _key(item) -> str:
    return item.key or ".".join(item.nested_key)


def read_offline_run(path: Path) -> tuple[dict, list[dict], dict]:
    """The config, per-step logged metrics and final summary of an offline run."""
    config, history, summary = {}, [], {}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            config.update({_key(item): json.loads(item.value_json) for item in record.run.config.update})
        elif kind == "config":
            config.update({_key(item): json.loads(item.value_json) for item in record.config.update})
        elif kind == "history":
            history.append({_key(item): json.loads(item.value_json) for item in record.history.item})
        elif kind == "summary":
            summary.update({_key(item): json.loads(item.value_json) for item in record.summary.update})
    return config, history, summary


def read_run_details(path: Path) -> dict:
    """What an offline run says it is (its last run record: name, group, job_type, tags), its
    `define_metric` axes ({metric: step metric}) and its logged artifacts ([(type, name)])."""
    details = {"metrics": {}, "artifacts": []}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            details.update(name=run.display_name, group=run.run_group, job_type=run.job_type, tags=list(run.tags))
        elif kind == "metric":
            details["metrics"][record.metric.name] = record.metric.step_metric
        elif kind == "artifact":
            details["artifacts"].append((record.artifact.type, record.artifact.name))
    return details
