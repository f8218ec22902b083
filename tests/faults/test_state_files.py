"""Damaged state files (records, checkpoints, cached teachers, generated-cache manifests) are moved aside
and the work redone: nothing is lost, nothing is stuck until someone deletes a file by hand."""
import hashlib
import json
import logging
import os
import pickle
import random

import numpy as np
import pytest
import torch

from bench.errors import UserError
from bench.compression.checkpoint import load_compressed
from bench.run.resume import claim_run_dir, read_record, run_dir_of
from bench.training.trainer import Trainer
from conftest import compose_config, model_factory, result_records, run_main
from datasets.generated_cache import cached_arrays
from datasets.mnist5k import load_mnist5k
from methods.teacher import cached_teacher

RANDOM_BYTES = random.Random(0).randbytes(300) + b"\xff\xfe"  # never valid UTF-8


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


# ---- result records


HUGE_NUMBER = b'{"status": "complete", "seed": ' + b"9" * 5001 + b"}"
DEEP = b'{"status": "complete", "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.mark.parametrize("content", [RANDOM_BYTES, b"[1, 2, 3]", b'{"status": "compl', b"", HUGE_NUMBER, DEEP],
                         ids=["random bytes", "a JSON list", "truncated", "empty", "a 5,001-digit number",
                              "nesting 100,000 deep"])
def test_an_unreadable_record_is_moved_aside_and_read_as_absent(tmp_path, content, caplog):
    (tmp_path / "result.json").write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="bench"):
        assert read_record(tmp_path) is None
    assert not (tmp_path / "result.json").exists()
    assert (tmp_path / "result.json.corrupt-1").read_bytes() == content  # moved, never deleted
    assert "result.json" in caplog.text and "moved aside" in caplog.text


def test_a_record_replaced_by_a_folder_is_moved_aside(tmp_path):
    (tmp_path / "result.json").mkdir()
    assert read_record(tmp_path) is None and (tmp_path / "result.json.corrupt-1").is_dir()


def test_quarantined_files_never_overwrite_each_other(tmp_path):
    for content in (b"[1]", b"[2]"):
        (tmp_path / "result.json").write_bytes(content)
        read_record(tmp_path)
    assert [(tmp_path / f"result.json.corrupt-{n}").read_bytes() for n in (1, 2)] == [b"[1]", b"[2]"]


def claim(tmp_path, record: bytes, checkpoint: bytes | None = None):
    """Claim the run directory of a tiny config that holds RECORD's bytes (and CHECKPOINT) from before."""
    cfg = compose_config("dataset=mnist5k_tiny", "logger=none", f"output_root={tmp_path}")
    run_dir = run_dir_of(tmp_path, cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "result.json").write_bytes(record)
    if checkpoint is not None:
        (run_dir / "model.pt").write_bytes(checkpoint)
    slot = claim_run_dir(cfg, {"task": "compress"})
    slot.release()
    return slot


def complete_record(checkpoint: bytes) -> bytes:
    return json.dumps({"status": "complete", "test_error": 0.1, "bytes_on_disk": len(checkpoint),
                       "checkpoint_sha256": hashlib.sha256(checkpoint).hexdigest()}).encode()


def test_a_complete_run_with_its_checkpoint_is_skipped(tmp_path):
    checkpoint = b"weights"
    assert claim(tmp_path, complete_record(checkpoint), checkpoint).skipped


@pytest.mark.parametrize("checkpoint, why", [(None, "is missing"), (b"other weights", "is not the one it recorded")])
def test_a_complete_run_whose_checkpoint_is_gone_or_changed_is_redone(tmp_path, checkpoint, why, caplog):
    with caplog.at_level(logging.WARNING, logger="bench"):
        slot = claim(tmp_path, complete_record(b"weights"), checkpoint)
    assert not slot.skipped and why in caplog.text
    archived = slot.dir / "attempts" / "1"
    assert json.loads((archived / "result.json").read_text())["status"] == "complete"  # kept, not overwritten
    assert (archived / "model.pt").exists() == (checkpoint is not None)


def test_an_attempt_deleted_by_hand_does_not_block_the_next(tmp_path):
    claim(tmp_path, b'{"status": "failed"}')  # the failed attempt moves to attempts/1
    slot = claim(tmp_path, b'{"status": "failed"}')  # and this one to attempts/2
    (slot.dir / "attempts" / "1" / "result.json").unlink()
    (slot.dir / "attempts" / "1").rmdir()  # someone tidies up by hand
    slot = claim(tmp_path, b'{"status": "interrupted"}')
    assert not slot.skipped and sorted(p.name for p in (slot.dir / "attempts").iterdir()) == ["2", "3"]
    assert json.loads((slot.dir / "attempts" / "3" / "result.json").read_text())["status"] == "interrupted"


def test_a_diverged_run_has_no_checkpoint_and_stays_final(tmp_path):
    assert claim(tmp_path, json.dumps({"status": "diverged", "divergence": {"epoch": 1}}).encode()).skipped


@pytest.mark.parametrize("content", [RANDOM_BYTES, b"[1, 2, 3]", HUGE_NUMBER],
                         ids=["random bytes", "a JSON list", "a 5,001-digit number"])
def test_a_garbage_record_does_not_block_the_run(tmp_path, content):
    slot = claim(tmp_path, content)
    assert not slot.skipped
    assert (slot.dir / "attempts" / "1" / "result.json.corrupt-1").read_bytes() == content
    assert json.loads((slot.dir / "result.json").read_text())["status"] == "running"


# ---- checkpoints, end to end


def flip_bytes(path, count=100):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + count] = bytes(b ^ 0xFF for b in data[middle:middle + count])
    path.write_bytes(bytes(data))


def test_a_damaged_checkpoint_is_refused_on_load_and_its_run_redone(tmp_path, tiny_run_args):
    run_main(*tiny_run_args, "train.epochs=1", output_root=tmp_path)
    [record] = result_records(tmp_path)
    checkpoint = next(tmp_path.rglob("model.pt"))
    assert record["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    load_compressed(checkpoint)  # intact: loads
    flip_bytes(checkpoint)
    with pytest.raises(UserError) as refused:
        load_compressed(checkpoint)
    assert str(checkpoint) in str(refused.value) and record["checkpoint_sha256"] in str(refused.value)
    copy = tmp_path / "copy.pt"  # away from its record: the record given explicitly
    copy.write_bytes(checkpoint.read_bytes())
    with pytest.raises(UserError):
        load_compressed(copy, record=record)
    rerun = run_main(*tiny_run_args, "train.epochs=1", output_root=tmp_path)
    assert "is not the one it recorded" in rerun.stdout + rerun.stderr
    current = json.loads((checkpoint.parent / "result.json").read_text())
    assert current["status"] == "complete" and current["checkpoint_sha256"] == record["checkpoint_sha256"]
    archived = checkpoint.parent / "attempts" / "1"
    assert (archived / "model.pt").read_bytes() == copy.read_bytes()  # the damaged one kept, not overwritten
    assert json.loads((archived / "result.json").read_text()) == record


# ---- the dark-knowledge teacher cache


def teacher_inputs():
    data = load_mnist5k(train_per_class=10, val_per_class=4, test_per_class=1)
    trainer = Trainer(epochs=1, batch_size=50, lr=0.1, momentum=0.9, lr_decay=0.95, weight_decay=0.0, patience=10,
                      seed=3)
    return model_factory("mlp3", (1, 28, 28), 10, "model.hidden=[16]"), trainer, data


def foreign_torch_file(obj) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("damage", [
    truncated, lambda data: RANDOM_BYTES, lambda data: pickle.dumps(object),
    lambda data: foreign_torch_file([1, 2]), lambda data: foreign_torch_file({"format": "another/v1"}),
], ids=["truncated", "random bytes", "a pickled class", "a list", "another format"])
def test_a_damaged_cached_teacher_is_moved_aside_and_retrained(tmp_path, damage, caplog):
    factory, trainer, data = teacher_inputs()
    teacher, notes = cached_teacher(factory, trainer, data, tmp_path, torch.device("cpu"))
    path = tmp_path / os.path.basename(notes["cache_file"])
    original = path.read_bytes()
    path.write_bytes(damage(original))
    with caplog.at_level(logging.WARNING, logger="bench"):
        retrained, again = cached_teacher(factory, trainer, data, tmp_path, torch.device("cpu"))
    assert again["reused"] is False and path.name in caplog.text
    assert path.with_name(path.name + ".corrupt-1").read_bytes() == damage(original)
    assert cached_teacher(factory, trainer, data, tmp_path, torch.device("cpu"))[1]["reused"] is True
    # retrained from the same fresh start: the same teacher
    for name, tensor in teacher.state_dict().items():
        assert torch.equal(retrained.state_dict()[name], tensor)


# ---- generated data set caches


def generate():
    return {"x": np.arange(12, dtype=np.uint8).reshape(3, 4)}, {"generator": "test"}


@pytest.mark.parametrize("file, damage", [
    ("manifest.json", truncated), ("manifest.json", lambda data: b"[1, 2]"), ("manifest.json", lambda d: RANDOM_BYTES),
    ("arrays.npz", truncated),
], ids=["truncated manifest", "manifest a JSON list", "manifest random bytes", "truncated arrays"])
def test_a_damaged_generated_cache_is_moved_aside_and_regenerated(tmp_path, file, damage, caplog):
    cached_arrays(tmp_path, "toy", {"seed": 1}, generate)
    path = next(tmp_path.rglob(file))
    path.write_bytes(damage(path.read_bytes()))
    with caplog.at_level(logging.WARNING):
        arrays, manifest = cached_arrays(tmp_path, "toy", {"seed": 1}, generate)
    assert "CACHE REJECTED" in caplog.text and manifest["from_cache"] is False
    assert np.array_equal(arrays["x"], generate()[0]["x"])
    assert path.with_name(path.name + ".corrupt-1").exists()
    assert cached_arrays(tmp_path, "toy", {"seed": 1}, generate)[1]["from_cache"] is True  # whole again
