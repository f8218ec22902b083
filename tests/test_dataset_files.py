"""Reading data sets from files: the original .amat files, and Fashion-MNIST's IDX files."""
import numpy as np
import pytest
import torch

from bench.errors import UserError
from datasets import fashion_mnist
from datasets.fashion_mnist import load_fashion_mnist
from datasets.larochelle import load_larochelle
from idx_files import write_mnist_like

SIZES = dict(train_size=8, val_size=2, test_size=5)


def write_amat(path, rows, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    table = np.hstack([rng.uniform(0, 1, (rows, 784)), (np.arange(rows) % classes)[:, None]])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, table, fmt="%.6e")
    return table


def test_amat_source_reads_the_original_files_with_the_authors_split(tmp_path):
    train = write_amat(tmp_path / "convex_train.amat", 10)
    test = write_amat(tmp_path / "50k" / "convex_test.amat", 5, seed=1)  # nested, as in the archive
    data = load_larochelle("convex", source="amat", amat_dir=str(tmp_path), **SIZES)
    assert data.name == "convex" and data.notes["source"] == "the original .amat files"
    assert data.sizes() == {"train": 8, "val": 2, "test": 5}
    assert data.input_shape == (1, 28, 28)
    expected_val = torch.tensor(train[8:, :784], dtype=torch.float32).view(-1, 1, 28, 28)  # row by row
    assert torch.allclose(data.val_x, expected_val, atol=1e-6)
    assert data.test_y.tolist() == test[:, 784].astype(int).tolist()


@pytest.mark.parametrize("damage, expected", [
    (lambda p: p.write_text(p.read_text()[:-3000]), "truncated"),
    (lambda p: p.write_text(p.read_text().replace("e-01", "x-01", 1)), "not an .amat file"),
    (lambda p: p.write_text("\n".join(p.read_text().splitlines()[:-1]) + "\n"), "9 rows; expected 10"),
    (lambda p: p.unlink(), "no file named convex_train.amat"),
])
def test_corrupt_truncated_or_missing_amat_files_give_one_line_naming_the_path(tmp_path, damage, expected):
    write_amat(tmp_path / "convex_train.amat", 10)
    write_amat(tmp_path / "convex_test.amat", 5)
    damage(tmp_path / "convex_train.amat")
    with pytest.raises(UserError) as err:
        load_larochelle("convex", source="amat", amat_dir=str(tmp_path), **SIZES)
    assert expected in str(err.value) and str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_missing_amat_folder_is_named(tmp_path):
    with pytest.raises(UserError, match="no_such_dir: no such folder"):
        load_larochelle("rot", source="amat", amat_dir=str(tmp_path / "no_such_dir"))


def test_fashion_mnist_through_torchvision_from_local_idx_files(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "not_installed"))
    arrays = write_mnist_like(tmp_path / "FashionMNIST" / "raw", n_train=100, n_test=30)
    data = load_fashion_mnist(root=str(tmp_path), download=False, val_fraction=0.2)
    assert data.name == "fashion_mnist" and "torchvision" in data.notes["source"]
    assert data.sizes() == {"train": 80, "val": 20, "test": 30}
    assert torch.bincount(data.val_y).tolist() == [2] * 10
    assert torch.equal(data.test_x, torch.tensor(arrays["t10k-images-idx3-ubyte"][:, None] / 255.0,
                                                 dtype=torch.float32))


def test_fashion_mnist_from_a_local_folder_of_gzipped_idx_files(tmp_path):
    write_mnist_like(tmp_path / "fm", n_train=50, n_test=20, compress=True)
    data = load_fashion_mnist(local_dir=str(tmp_path / "fm"), augment={"crop_padding": 2, "flip": False})
    assert data.sizes() == {"train": 40, "val": 10, "test": 20} and str(tmp_path / "fm") in data.notes["source"]
    assert data.augment.crop_padding == 2


def test_fashion_mnist_missing_everywhere_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "not_installed"))
    with pytest.raises(UserError) as err:
        load_fashion_mnist(root=str(tmp_path), download=False)
    assert str(tmp_path / "FashionMNIST" / "raw") in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="no such folder"):
        load_fashion_mnist(local_dir=str(tmp_path / "nowhere"))


@pytest.mark.parametrize("damage, expected", [
    (lambda raw: raw[:-7], "truncated"),
    (lambda raw: b"\x00\x00\x0d\x03" + raw[4:], "not an IDX file"),
])
def test_corrupt_or_truncated_idx_files_are_named(tmp_path, damage, expected):
    write_mnist_like(tmp_path / "fm", n_train=20, n_test=10)
    images = tmp_path / "fm" / "train-images-idx3-ubyte"
    images.write_bytes(damage(images.read_bytes()))
    with pytest.raises(UserError) as err:
        load_fashion_mnist(local_dir=str(tmp_path / "fm"))
    assert expected in str(err.value) and str(images) in str(err.value)


def test_broken_gzip_is_named(tmp_path):
    write_mnist_like(tmp_path / "fm", n_train=20, n_test=10, compress=True)
    labels = tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:15])
    with pytest.raises(UserError, match="corrupt"):
        load_fashion_mnist(local_dir=str(tmp_path / "fm"))


