import numpy as np
import torch
import torch.nn.functional as F

from methods.hashed_linear import HashedLinear
from methods.hashing import bucket_and_sign


def test_hash_is_deterministic_and_depends_on_seed_and_layer():
    a, sa = bucket_and_sign(50_000, 997, seed=3, layer=1)
    b, sb = bucket_and_sign(50_000, 997, seed=3, layer=1)
    assert np.array_equal(a, b) and np.array_equal(sa, sb)
    assert (a != bucket_and_sign(50_000, 997, seed=4, layer=1)[0]).mean() > 0.99
    assert (a != bucket_and_sign(50_000, 997, seed=3, layer=2)[0]).mean() > 0.99


def test_signs_are_balanced_and_independent_of_buckets():
    buckets, signs = bucket_and_sign(200_000, 1000, seed=0, layer=0)
    assert set(np.unique(signs)) == {-1, 1}
    assert abs(signs.mean()) < 0.01  # 4.5 standard deviations for a fair coin
    # within any bucket, signs are still balanced (not a function of the bucket)
    per_bucket = np.bincount(buckets, weights=signs, minlength=1000) / np.bincount(buckets, minlength=1000)
    assert abs(per_bucket.mean()) < 0.02


def test_buckets_are_used_uniformly():
    buckets, _ = bucket_and_sign(1_000_000, 1000, seed=0, layer=0)
    counts = np.bincount(buckets, minlength=1000)
    assert counts.min() > 850 and counts.max() < 1150  # expected 1000 +- 32 each


def test_virtual_weight_is_the_bucket_value_times_the_sign():
    layer = HashedLinear(30, 20, num_buckets=17, seed=5, layer=2)
    index, sign = bucket_and_sign(20 * 31, 17, seed=5, layer=2)
    expected = layer.buckets.detach().numpy()[index] * sign
    assert np.allclose(layer.virtual_weight().detach().numpy().ravel(), expected)


def test_state_dict_holds_only_the_buckets():
    layer = HashedLinear(1000, 1000, num_buckets=4096, seed=0, layer=0)
    assert {k: v.shape for k, v in layer.state_dict().items()} == {"buckets": (4096,)}
    unhashed_bias = HashedLinear(10, 5, num_buckets=7, seed=0, layer=0, hash_bias=False)
    assert {k: v.shape for k, v in unhashed_bias.state_dict().items()} == {"buckets": (7,), "bias": (5,)}


def test_gradient_matches_a_dense_layer_with_tied_weights():
    torch.manual_seed(0)
    layer = HashedLinear(40, 30, num_buckets=64, seed=1, layer=0).double()
    x, target = torch.randn(8, 40, dtype=torch.float64), torch.randn(8, 30, dtype=torch.float64)
    F.mse_loss(layer(x), target).backward()

    # The same function written as a dense layer whose weights are tied through the hash.
    index, sign = bucket_and_sign(30 * 41, 64, seed=1, layer=0)
    dense = layer.buckets.detach().clone().numpy()[index] * sign
    dense = torch.tensor(dense.reshape(30, 41), requires_grad=True)
    F.mse_loss(F.linear(x, dense[:, :-1], dense[:, -1]), target).backward()
    # d loss / d bucket k = sum over virtual weights in bucket k of sign * d loss / d weight
    expected = np.bincount(index, weights=sign * dense.grad.numpy().ravel(), minlength=64)
    assert np.allclose(layer.buckets.grad.numpy(), expected, rtol=1e-10, atol=1e-12)
