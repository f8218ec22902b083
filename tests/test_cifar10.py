"""CIFAR-10 read from small batch files in the real format (pickled dicts, as torchvision unpacks them)."""
import pickle
import urllib.error

import numpy as np
import pytest
import torch
import torchvision.datasets.utils

from bench.errors import UserError
from datasets.augment import TensorAugment
from datasets.cifar10 import FOLDER, TEST_FILE, TRAIN_FILES, load_cifar10

PER_BATCH = 20


def write_batch(path, images, labels):
    with open(path, "wb") as file:
        pickle.dump({b"batch_label": b"test", b"data": images, b"labels": list(labels)}, file, protocol=2)


def write_cifar_like(root, seed=0) -> dict:
    """Five training batches and a test batch of PER_BATCH random images, labels 0..9 in turn."""
    rng = np.random.default_rng(seed)
    folder = root / FOLDER
    folder.mkdir(parents=True)
    arrays = {}
    for name in (*TRAIN_FILES, TEST_FILE):
        arrays[name] = rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8)
        write_batch(folder / name, arrays[name], np.arange(PER_BATCH) % 10)
    return arrays


def test_batches_are_read_as_colour_images_with_a_stratified_validation_split(tmp_path):
    arrays = write_cifar_like(tmp_path)
    data = load_cifar10(root=str(tmp_path), download=False, val_fraction=0.1)
    assert data.name == "cifar10" and data.num_classes == 10 and str(tmp_path / FOLDER) in data.notes["source"]
    assert data.sizes() == {"train": 90, "val": 10, "test": 20} and data.input_shape == (3, 32, 32)
    assert torch.bincount(data.val_y).tolist() == [1] * 10
    for x in (data.train_x, data.val_x, data.test_x):
        assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
    test = arrays[TEST_FILE]
    assert data.test_y.tolist() == [i % 10 for i in range(PER_BATCH)]
    # a row holds the red plane, then green, then blue, each row by row
    assert data.test_x[3, 1, 0, 5] == torch.tensor(test[3, 1024 + 5] / 255, dtype=torch.float32)
    assert data.test_x[7, 2, 31, 31] == torch.tensor(test[7, 3071] / 255, dtype=torch.float32)
    # train and validation partition the 100 training images
    assert len(torch.unique(torch.cat([data.train_x, data.val_x]), dim=0)) == 100
    assert data.augment is None


def test_augment_option_gives_a_tensor_augment(tmp_path):
    write_cifar_like(tmp_path)
    data = load_cifar10(root=str(tmp_path), download=False, augment={"crop_padding": 4, "flip": True})
    assert isinstance(data.augment, TensorAugment) and data.augment.crop_padding == 4 and data.augment.flip


def test_missing_files_without_download_are_one_clear_error(tmp_path):
    with pytest.raises(UserError) as err:
        load_cifar10(root=str(tmp_path), download=False)
    message = str(err.value)
    assert str(tmp_path / FOLDER) in message and "data_batch_1" in message and "download=false" in message
    assert "\n" not in message


def test_a_failed_download_is_one_clear_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network\nsecond line")

    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", offline)
    with pytest.raises(UserError) as err:
        load_cifar10(root=str(tmp_path), download=True)
    message = str(err.value)
    assert str(tmp_path / FOLDER) in message and "download" in message and "no network" in message
    assert "\n" not in message


@pytest.mark.parametrize("damage, expected", [
    (lambda path: path.write_bytes(path.read_bytes()[:500]), "corrupt"),
    (lambda path: path.write_bytes(b"not a pickle at all"), "corrupt"),
    (lambda path: path.write_bytes(pickle.dumps([1, 2, 3])), "not a CIFAR-10 batch"),
    (lambda path: write_batch(path, np.zeros((PER_BATCH, 3000), np.uint8), range(PER_BATCH)), "(20, 3000)"),
    (lambda path: write_batch(path, np.zeros((PER_BATCH, 3072), np.float32), range(PER_BATCH)), "float32"),
    (lambda path: write_batch(path, np.zeros((PER_BATCH, 3072), np.uint8), range(PER_BATCH - 1)), "N labels"),
    (lambda path: write_batch(path, np.zeros((PER_BATCH, 3072), np.uint8), [10] * PER_BATCH), "0..9"),
    (lambda path: write_batch(path, np.zeros((PER_BATCH, 3072), np.uint8), [-1] * PER_BATCH), "0..9"),
])
def test_a_bad_batch_file_is_named(tmp_path, damage, expected):
    write_cifar_like(tmp_path)
    path = tmp_path / FOLDER / "data_batch_3"
    damage(path)
    with pytest.raises(UserError) as err:
        load_cifar10(root=str(tmp_path), download=False)
    assert str(path) in str(err.value) and expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("options, expected", [
    (dict(val_fraction=0), "val_fraction"), (dict(val_fraction=1.5), "val_fraction"),
    (dict(augment={"crop_padding": -1}), "crop_padding"), (dict(augment={"crop_padding": 1.5}), "crop_padding"),
    (dict(augment={"flip": "yes"}), "flip"), (dict(augment={"rotate": 10}), "rotate"),
])
def test_bad_options_give_one_clear_line(tmp_path, options, expected):
    write_cifar_like(tmp_path)
    with pytest.raises(UserError) as err:
        load_cifar10(root=str(tmp_path), download=False, **options)
    assert expected in str(err.value) and "\n" not in str(err.value)
