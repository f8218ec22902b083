"""Data read once per process (bench/machine/data_cache.py) and mnist5k kept as a checksummed .npz."""
import logging

import pytest
import torch
from omegaconf import OmegaConf

import bench.machine.data_cache
import datasets.mnist5k
from bench.components import call_target
from bench.machine.data_cache import load_dataset

TINY = {"_target_": "datasets.mnist5k.load_mnist5k", "name": "mnist5k_tiny", "train_per_class": 3,
        "val_per_class": 2, "test_per_class": 2}


@pytest.fixture
def reads(monkeypatch):
    """The loader calls made through the cache (emptied first)."""
    calls = []

    def counting(node):
        calls.append(node["name"])
        return call_target(node)
    monkeypatch.setattr(bench.machine.data_cache, "_last", {})
    monkeypatch.setattr(bench.machine.data_cache, "call_target", counting)
    return calls


def test_a_data_set_is_read_once_and_each_run_gets_equal_tensors_of_its_own(reads):
    node = OmegaConf.create(TINY)
    first, second = load_dataset(node), load_dataset(node)
    assert reads == ["mnist5k_tiny"]
    for name, a in first.tensors().items():
        b = getattr(second, name)
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    first.train_x.fill_(7)  # a run changing its data in place...
    first.notes["touched"] = True
    third = load_dataset(node)  # ...does not change the next run's
    assert torch.equal(third.train_x, second.train_x) and "touched" not in third.notes


def test_another_data_set_config_is_read_anew(reads):
    load_dataset(OmegaConf.create(TINY))
    other = load_dataset(OmegaConf.create({**TINY, "train_per_class": 4}))
    assert len(reads) == 2 and other.sizes()["train"] == 40


def test_mnist5k_is_read_from_its_npz_and_a_damaged_one_is_rebuilt_loudly(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    datasets.mnist5k._digits.cache_clear()
    images, labels = datasets.mnist5k._digits()  # parses the CSV, writes the cache
    [arrays] = tmp_path.rglob("arrays.npz")

    def no_csv():
        raise AssertionError("the CSV was parsed although the cache is intact")
    monkeypatch.setattr(datasets.mnist5k, "_parse_csv", no_csv)
    datasets.mnist5k._digits.cache_clear()
    cached_images, cached_labels = datasets.mnist5k._digits()
    assert (cached_images == images).all() and (cached_labels == labels).all() and cached_images.dtype == images.dtype

    monkeypatch.undo()
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path))
    arrays.write_bytes(arrays.read_bytes()[:1000])  # truncated
    datasets.mnist5k._digits.cache_clear()
    with caplog.at_level(logging.WARNING):
        rebuilt_images, _ = datasets.mnist5k._digits()
    assert "CACHE REJECTED" in caplog.text and str(arrays) in caplog.text
    assert (rebuilt_images == images).all() and arrays.stat().st_size > 1000
    assert not rebuilt_images.flags.writeable  # shared by the process's runs
    datasets.mnist5k._digits.cache_clear()
