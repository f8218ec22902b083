"""The fast HashedLinear against the naive index-gather version: same forward, same gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from layers.hashed_linear import HashedLinear, NaiveHashedLinear
from layers.hashing import _GOLDEN, _MIX1, _MIX2, bucket_and_sign, hash_positions, salt, signed_bucket_codes

M64 = (1 << 64) - 1


def splitmix64_reference(x: int) -> int:
    """SplitMix64 written out in plain Python integers."""
    z = (x + _GOLDEN) & M64
    z = ((z ^ (z >> 30)) * _MIX1) & M64
    z = ((z ^ (z >> 27)) * _MIX2) & M64
    return z ^ (z >> 31)


def test_torch_hash_is_splitmix64():
    s = salt(7, 2, 0)
    hashes = hash_positions(0, 1000, 7, 2, 0)
    for position in (0, 1, 2, 511, 999):
        assert int(hashes[position]) & M64 == splitmix64_reference(position ^ s)
    assert torch.equal(hash_positions(500, 1000, 7, 2, 0), hashes[500:])


def test_codes_cover_buckets_and_signs():
    codes = signed_bucket_codes(200_000, 1000, seed=3, layer=1)
    assert codes.dtype == torch.int32
    buckets, negative = codes >> 1, codes & 1
    assert int(buckets.min()) == 0 and int(buckets.max()) == 999
    assert abs(negative.float().mean().item() - 0.5) < 0.01
    assert torch.bincount(buckets.long(), minlength=1000).min() > 100  # every bucket used, ~200 each
    assert not torch.equal(codes, signed_bucket_codes(200_000, 1000, seed=4, layer=1))
    assert not torch.equal(codes, signed_bucket_codes(200_000, 1000, seed=3, layer=2))


def pair(hash_bias: bool, cache_index: bool):
    torch.manual_seed(0)
    fast = HashedLinear(300, 200, 5000, seed=3, layer=1, hash_bias=hash_bias, cache_index=cache_index)
    torch.manual_seed(0)
    naive = NaiveHashedLinear(300, 200, 5000, seed=3, layer=1, hash_bias=hash_bias)
    return fast, naive


@pytest.mark.parametrize("hash_bias", [True, False])
@pytest.mark.parametrize("cache_index", [True, False])
def test_fast_path_matches_naive_exactly(hash_bias, cache_index):
    fast, naive = pair(hash_bias, cache_index)
    x = torch.randn(64, 300, requires_grad=True)
    grad_out = torch.randn(64, 200)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the naive backward sums in position order only when single-threaded
    try:
        y_naive = naive(x)
        grads_naive = torch.autograd.grad(y_naive, [x, *naive.parameters()], grad_out)
    finally:
        torch.set_num_threads(threads)
    y_fast = fast(x)
    grads_fast = torch.autograd.grad(y_fast, [x, *fast.parameters()], grad_out)
    assert torch.equal(y_fast, y_naive)
    assert len(grads_fast) == len(grads_naive) == (2 if hash_bias else 3)
    for g_fast, g_naive in zip(grads_fast, grads_naive):
        assert torch.equal(g_fast, g_naive)
    assert torch.equal(fast.virtual_weight(), naive.virtual_weight())


def test_a_retained_graph_gives_the_same_gradients_twice():
    # the first backward turns the forward's weight buffer into the weight gradient
    layer, _ = pair(hash_bias=True, cache_index=True)
    x = torch.randn(8, 300, requires_grad=True)
    y = layer(x)
    first = torch.autograd.grad(y.square().sum(), [x, layer.buckets], retain_graph=True)
    second = torch.autograd.grad(y.square().sum(), [x, layer.buckets])
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_backward_after_the_buckets_changed_is_refused():
    layer, _ = pair(hash_bias=False, cache_index=True)
    y = layer(torch.randn(4, 300))
    with torch.no_grad():
        layer.buckets.mul_(2)  # as an optimizer step between forward and backward would
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_leading_dimensions_and_a_wrong_width():
    layer, _ = pair(hash_bias=True, cache_index=True)
    x = torch.randn(3, 4, 300)
    assert torch.equal(layer(x), layer(x.view(12, 300)).view(3, 4, 200))
    with pytest.raises(ValueError, match="input has 600 features; this layer takes 300"):
        layer(torch.randn(2, 600))


def test_virtual_weight_layout_and_values():
    layer, _ = pair(hash_bias=True, cache_index=True)
    virtual = layer.virtual_weight()
    assert virtual.shape == (200, 301)
    x = torch.randn(5, 300)
    assert torch.allclose(layer(x), x @ virtual[:, :-1].T + virtual[:, -1], atol=1e-6)
    values = set((layer.buckets * layer.scale).detach().abs().tolist())
    assert set(virtual.detach().abs().flatten().tolist()) <= values


def test_state_is_k_values_and_cache_is_4_bytes_per_virtual_weight():
    layer = HashedLinear(784, 1000, 12345, seed=1, layer=0)
    assert {k: v.shape for k, v in layer.state_dict().items()} == {"buckets": torch.Size([12345])}
    index = "slots" if layer.slots is not None else "codes"  # bucket streams, or codes by position
    assert getattr(layer, index).dtype == torch.int32 and getattr(layer, index).numel() == 1000 * 785
    table_bytes = sum(b.numel() * b.element_size() for name, b in layer.named_buffers() if name != index)
    assert table_bytes <= 1024  # the streams' small tables
    uncached = HashedLinear(784, 1000, 12345, seed=1, layer=0, cache_index=False)
    assert list(uncached.buffers()) == []
    uncached.load_state_dict(layer.state_dict())
    x = torch.randn(3, 784)
    assert torch.equal(uncached(x), layer(x))


def test_backward_is_deterministic_across_thread_counts():
    layer, _ = pair(hash_bias=True, cache_index=True)
    x, grad_out = torch.randn(50, 300), torch.randn(50, 200)
    results = []
    threads = torch.get_num_threads()
    for n in (1, 2, 1, 2):
        torch.set_num_threads(n)
        results.append(torch.autograd.grad(layer(x), layer.buckets, grad_out)[0])
    torch.set_num_threads(threads)
    assert all(torch.equal(r, results[0]) for r in results)


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



def test_gradient_matches_a_dense_layer_with_tied_weights():
    torch.manual_seed(0)
    layer = HashedLinear(40, 30, num_buckets=64, seed=1, layer=0).double()
    x, target = torch.randn(8, 40, dtype=torch.float64), torch.randn(8, 30, dtype=torch.float64)
    F.mse_loss(layer(x), target).backward()

    # The same function written as a dense layer whose weights are tied through the hash
    # (hash positions: the weights row-major, then the biases).
    index, sign = bucket_and_sign(30 * 40 + 30, 64, seed=1, layer=0)
    tied = torch.tensor(layer.scale * layer.buckets.detach().numpy()[index] * sign, requires_grad=True)
    F.mse_loss(F.linear(x, tied[:1200].view(30, 40), tied[1200:]), target).backward()
    # d loss / d bucket k = scale * sum over virtual weights in bucket k of sign * d loss / d weight
    expected = layer.scale * np.bincount(index, weights=sign * tied.grad.numpy(), minlength=64)
    assert np.allclose(layer.buckets.grad.numpy(), expected, rtol=1e-10, atol=1e-12)
