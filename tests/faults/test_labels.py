"""A label out of range, or not an integer, ends the run with one `error:` line naming the data set and the
label: never trained on and counted as a wrong answer."""
import numpy as np
import pytest
import torch

from bench.errors import UserError
from conftest import run_main
from datasets.fashion_mnist import load_fashion_mnist
from datasets.larochelle import load_larochelle
from datasets.mnist5k import load_mnist5k
from datasets.splits import DataSplits, as_tensors
from idx_files import write_idx, write_mnist_like
from test_dataset_files import write_amat


def splits_with(labels: dict, num_classes: int = 10) -> DataSplits:
    """Four images per split; LABELS replaces a split's labels (e.g. {"test": ...})."""
    fields = {}
    for split in ("train", "val", "test"):
        fields[f"{split}_x"] = torch.zeros(4, 1, 28, 28)
        fields[f"{split}_y"] = labels.get(split, torch.tensor([0, 1, 2, 3]))
    return DataSplits("toy", num_classes=num_classes, notes={"source": "made up"}, **fields)


def test_labels_within_range_are_accepted():
    assert splits_with({"test": torch.tensor([0, 9, 9, 0])}).sizes() == {"train": 4, "val": 4, "test": 4}


@pytest.mark.parametrize("split, labels, expected", [
    ("test", torch.tensor([0, 1, 10, 3]), "test label 10 at index 2"),
    ("train", torch.tensor([0, -1, 2, 3]), "train label -1 at index 1"),
    ("val", torch.tensor([0, 200, 200, 3], dtype=torch.uint8), "val label 200 at index 1 (2 such)"),
    ("train", torch.tensor([0.0, 1.5, 2.0, 3.0]), "train labels are torch.float32"),
])
def test_a_bad_label_in_any_split_is_a_user_error_naming_it(split, labels, expected):
    with pytest.raises(UserError) as err:
        splits_with({split: labels})
    message = str(err.value)
    assert expected in message and "data set toy (made up)" in message and "\n" not in message


def test_every_loader_is_checked_so_a_narrower_class_count_is_caught():
    data = load_mnist5k(train_per_class=2, val_per_class=1, test_per_class=1)
    with pytest.raises(UserError, match="expected 0 <= label < 9"):
        DataSplits(data.name, data.train_x, data.train_y, data.val_x, data.val_y, data.test_x, data.test_y,
                   num_classes=9)


def test_a_fashion_mnist_label_of_200_is_refused(tmp_path):
    arrays = write_mnist_like(tmp_path / "fm", n_train=40, n_test=20)
    labels = arrays["t10k-labels-idx1-ubyte"].copy()
    labels[7] = 200
    write_idx(tmp_path / "fm" / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(UserError) as err:
        load_fashion_mnist(local_dir=str(tmp_path / "fm"))
    assert "test label 200 at index 7" in str(err.value) and str(tmp_path / "fm") in str(err.value)


@pytest.mark.parametrize("damage, expected", [
    (lambda folder: write_idx(folder / "train-labels-idx1-ubyte", [200] + [1] * 39), "label 200"),
    (lambda folder: (folder / "t10k-images-idx3-ubyte").write_bytes(
        (folder / "t10k-images-idx3-ubyte").read_bytes()[:-100]), "truncated"),
], ids=["label 200", "truncated images"])
def test_a_damaged_fashion_mnist_file_ends_the_run_with_one_error_line(tmp_path, damage, expected):
    write_mnist_like(tmp_path / "fm", n_train=40, n_test=20)
    damage(tmp_path / "fm")
    done = run_main("dataset=fashion_mnist", f"dataset.local_dir={tmp_path / 'fm'}", "model=mlp3",
                    "train.epochs=1", "logger=none", output_root=tmp_path / "out", check=False)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: ") and expected in errors[0], done.stderr


def test_fractional_labels_are_refused_not_truncated():
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    x, y = as_tensors(images, np.array([0.0, 1.5, 2.0, 3.0]))
    with pytest.raises(UserError, match="train labels are torch.float64"):
        DataSplits("toy", x, y, x, y.long(), x, y.long(), num_classes=10)
    assert as_tensors(images, np.array([0, 1, 2, 3], dtype=np.uint8))[1].dtype == torch.int64


def test_an_amat_label_out_of_range_is_named_with_its_file(tmp_path):
    write_amat(tmp_path / "convex_train.amat", 10)
    table = write_amat(tmp_path / "convex_test.amat", 5)
    table[3, 784] = 5  # convex has 2 classes
    np.savetxt(tmp_path / "convex_test.amat", table, fmt="%.6e")
    with pytest.raises(UserError) as err:
        load_larochelle("convex", source="amat", amat_dir=str(tmp_path), train_size=8, val_size=2, test_size=5)
    assert str(tmp_path / "convex_test.amat") in str(err.value) and "0..1" in str(err.value)
