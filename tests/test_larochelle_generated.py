import logging
from math import gcd

import numpy as np
import pytest
import torch

from bench.errors import UserError
from datasets.digit_base import load_digit_base
from datasets.digit_variations import rotate
from datasets.larochelle import generate_arrays, load_larochelle

SMALL = dict(train_size=60, val_size=20, test_size=40)


def load(variation, tmp_path, **options):
    return load_larochelle(variation, base="mnist5k", cache_dir=str(tmp_path / "generated"), **{**SMALL, **options})


@pytest.mark.parametrize("variation", ["basic", "rot", "bg_rand", "bg_img", "bg_img_rot", "rect", "convex"])
def test_shapes_range_sizes_balance_and_honest_name(variation, tmp_path):
    data = load(variation, tmp_path)
    assert data.sizes() == {"train": 60, "val": 20, "test": 40} and data.input_shape == (1, 28, 28)
    assert data.name == (f"{variation}_gen" + ("@mnist5k" if variation not in ("rect", "convex") else ""))
    for x, y in [(data.train_x, data.train_y), (data.val_x, data.val_y), (data.test_x, data.test_y)]:
        assert x.shape == (len(y), 1, 28, 28) and x.dtype == torch.float32
        assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.9
    counts = torch.bincount(data.train_y, minlength=data.num_classes)
    assert data.num_classes == (2 if variation in ("rect", "convex") else 10)
    if variation in ("rect", "convex"):
        assert counts.tolist() == [30, 30]  # exactly balanced
    else:
        assert counts.min() >= 1  # 60 random digits; the full pools are balanced (test below)
    assert data.notes["seed"] == 0 and data.notes["checksum_sha256"]


def test_same_seed_gives_identical_arrays_and_another_seed_does_not(tmp_path):
    a = load("bg_img_rot", tmp_path / "a")
    b = load("bg_img_rot", tmp_path / "b")
    c = load("bg_img_rot", tmp_path / "c", seed=1)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_x, b.test_x)
    assert not torch.equal(a.train_x, c.train_x)


def test_cache_is_reused_and_a_tampered_cache_is_regenerated_loudly(tmp_path, caplog):
    first = load("rect", tmp_path)
    assert first.notes["from_cache"] is False
    again = load("rect", tmp_path)
    assert again.notes["from_cache"] is True and torch.equal(first.test_x, again.test_x)
    arrays_file = next((tmp_path / "generated" / "rect").rglob("arrays.npz"))
    stored = dict(np.load(arrays_file))
    stored["test_x"][0, :10] = 255 - stored["test_x"][0, :10]
    np.savez(arrays_file, **stored)
    with caplog.at_level(logging.WARNING):
        regenerated = load("rect", tmp_path)
    assert "CACHE REJECTED" in caplog.text and "checksum" in caplog.text
    assert regenerated.notes["from_cache"] is False and torch.equal(first.test_x, regenerated.test_x)


def test_rect_labels_agree_with_the_drawn_rectangle():
    arrays = generate_arrays("rect", seed=3, sizes={"train": 300, "val": 1, "test": 1})
    images, labels = arrays["train_x"].reshape(-1, 28, 28) > 0, arrays["train_y"]
    for image, label in zip(images, labels):
        rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert abs(height - width) >= 3 and label == int(height > width)
        box = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        assert box[[0, -1]].all() and box[:, [0, -1]].all() and not box[1:-1, 1:-1].any()  # an outline


def hull_fill(mask: np.ndarray) -> np.ndarray:
    """Pixels inside the convex hull of MASK's pixels, exactly: the hull is the intersection of its
    supporting half-planes, and every hull edge joins two pixels, so integer normals up to 27 suffice."""
    normals = np.array([(a, b) for a in range(-27, 28) for b in range(-27, 28) if gcd(a, b) == 1])
    rows, cols = np.mgrid[0:28, 0:28]
    projections = np.stack([cols.ravel(), rows.ravel()], 1) @ normals.T  # (784, directions)
    support = projections[mask.ravel()].max(0)
    return (projections <= support).all(1).reshape(28, 28)


def test_every_convex_positive_is_convex_and_every_negative_is_not():
    arrays = generate_arrays("convex", seed=5, sizes={"train": 200, "val": 1, "test": 1})
    images, labels = arrays["train_x"].reshape(-1, 28, 28) > 0, arrays["train_y"]
    for image, label in zip(images, labels):
        assert np.array_equal(hull_fill(image), image) == bool(label)
    whites = images.sum((1, 2))
    assert abs(whites[labels == 1].mean() - whites[labels == 0].mean()) < 0.05 * whites.mean()


def test_rot_digits_are_really_rotated_and_unrotating_recovers_them():
    base = load_digit_base("mnist5k", "unused", False, False, "rot", "rot_gen@mnist5k")
    arrays = generate_arrays("rot", seed=0, sizes={"train": 50, "val": 1, "test": 1}, digits=base)
    digits = base.pools["train"][0][:50].astype(float)
    rotated = arrays["train_x"].reshape(-1, 28, 28)
    back = rotate(rotated, -arrays["train_angle"]).astype(float)
    recovered = np.abs(back - digits).mean((1, 2))
    unrotated = np.abs(rotated.astype(float) - digits).mean((1, 2))
    assert np.median(recovered) < 0.5 * np.median(unrotated)
    big_turn = np.abs(np.sin(arrays["train_angle"] / 2)) > 0.5  # turned by more than 60 degrees
    assert (recovered[big_turn] < unrotated[big_turn]).all()


def test_no_digit_is_shared_between_train_validation_and_test(tmp_path):
    data = load("basic", tmp_path, train_size=3200, val_size=800, test_size=1000)
    rows = lambda x: {r.tobytes() for r in (x * 255).round().to(torch.uint8).numpy()}
    train, val, test = rows(data.train_x), rows(data.val_x), rows(data.test_x)
    assert not train & test and not val & test and not train & val
    for y, per_class in [(data.train_y, 320), (data.val_y, 80), (data.test_y, 100)]:
        assert torch.bincount(y).tolist() == [per_class] * 10


def test_mnist5k_base_shortfall_is_stated_and_recorded(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        data = load_larochelle("rot", root=str(tmp_path / "no_mnist"), download=False,
                               cache_dir=str(tmp_path / "generated"), test_size=2000, train_size=50, val_size=10)
    assert data.name == "rot_gen@mnist5k" and "FALLBACK" in caplog.text and "SHORTFALL" in caplog.text
    assert data.sizes()["test"] == 1000
    assert data.notes["sizes_differ_from_published"]["used"]["test"] == 1000
    assert str(tmp_path / "no_mnist") in data.notes["fallback_reason"]


@pytest.mark.parametrize("options, expected", [
    (dict(variation="rott"), "rott"), (dict(variation="rot", source="web"), "web"),
    (dict(variation="rot", base="emnist"), "emnist"), (dict(variation="rot", train_size=0), "train"),
    (dict(variation="bg_img", photos_dir="/no/such/photos"), "/no/such/photos"),
])
def test_bad_options_give_one_clear_line(options, expected, tmp_path):
    with pytest.raises(UserError) as err:
        load_larochelle(cache_dir=str(tmp_path), **{**SMALL, "base": "mnist5k", **options})
    assert expected in str(err.value) and "\n" not in str(err.value)
