import logging

import numpy as np
import pytest
import torch

from bench.errors import UserError
from datasets.mnist import load_mnist
from datasets.augment import TensorAugment
from datasets.mnist5k import load_mnist5k
from idx_files import write_mnist_like


def test_full_mnist_is_read_through_torchvision_from_local_idx_files(tmp_path):
    arrays = write_mnist_like(tmp_path / "MNIST" / "raw", n_train=200, n_test=50)
    data = load_mnist(root=str(tmp_path), download=False, val_fraction=0.2)
    assert data.name == "mnist" and "fallback_reason" not in data.notes
    assert data.sizes() == {"train": 160, "val": 40, "test": 50} and data.input_shape == (1, 28, 28)
    assert torch.bincount(data.val_y).tolist() == [4] * 10  # stratified hold-out
    expected_test = torch.tensor(arrays["t10k-images-idx3-ubyte"][:, None] / 255.0, dtype=torch.float32)
    assert torch.equal(data.test_x, expected_test)
    assert data.train_x.dtype == torch.float32 and 0 <= data.train_x.min() and data.train_x.max() <= 1
    # train and validation partition the 200 training images
    all_train = torch.cat([data.train_x, data.val_x])
    assert len(torch.unique(all_train, dim=0)) == 200


def test_missing_mnist_falls_back_loudly_to_mnist5k_and_says_so(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        data = load_mnist(root=str(tmp_path), download=False)
    assert data.name == "mnist5k"
    assert data.notes["requested"] == "mnist" and str(tmp_path) in data.notes["fallback_reason"]
    assert "FALLBACK" in caplog.text and "mnist5k" in caplog.text


def test_strict_switch_turns_the_fallback_into_one_clear_error(tmp_path):
    with pytest.raises(UserError) as err:
        load_mnist(root=str(tmp_path), download=False, strict=True)
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value) and "strict" in str(err.value)


def test_mnist5k_split_is_fixed_stratified_and_disjoint():
    a, b = load_mnist5k(), load_mnist5k()
    assert a.sizes() == {"train": 3200, "val": 800, "test": 1000} and a.train_x.shape[1:] == (1, 28, 28)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    for y, per_class in [(a.train_y, 320), (a.val_y, 80), (a.test_y, 100)]:
        assert torch.bincount(y).tolist() == [per_class] * 10
    rows = lambda x: {r.tobytes() for r in x.numpy()}
    assert not rows(a.test_x) & rows(a.train_x) and not rows(a.test_x) & rows(a.val_x)
    assert np.isclose(a.train_x.max().item(), 1.0) and a.train_x.min().item() == 0.0


def test_augment_option_is_checked_and_set():
    assert load_mnist5k().augment is None
    data = load_mnist5k(train_per_class=2, augment={"crop_padding": 2})
    assert isinstance(data.augment, TensorAugment) and data.augment.crop_padding == 2 and not data.augment.flip
    with pytest.raises(UserError, match="crop_padding"):
        load_mnist5k(augment={"crop_padding": "two"})


def test_missing_mnist_falls_back_to_mnist5k_with_the_augment_asked_for(tmp_path):
    data = load_mnist(root=str(tmp_path), download=False, augment={"flip": True})
    assert data.name == "mnist5k" and data.augment.flip
