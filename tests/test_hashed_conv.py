"""HashedConv2d against the naive gather version, its hash layout, state and initial scale; from_dense."""
import numpy as np
import pytest
import torch
from torch import nn

from methods.compressible import layer_salt
from layers.hashed_conv import HashedConv2d, NaiveHashedConv2d
from layers.hashed_linear import HashedLinear, NaiveHashedLinear
from layers.hashing import bucket_and_sign

# in, out, kernel, keyword arguments, input size
GEOMETRIES = {
    "stride 2": (3, 8, 3, dict(stride=2, padding=1), 11),
    "groups 2": (4, 6, 3, dict(groups=2, padding=1), 8),
    "5x5 padded": (6, 16, 5, dict(padding=2), 14),
    "1x1 no bias": (8, 4, 1, dict(bias=False), 7),
    "bias not hashed": (4, 8, 3, dict(hash_bias=False), 9),
    "dilation, rectangular": (3, 5, (3, 2), dict(dilation=2, padding=(2, 1)), 10),
    "no cache": (4, 8, 3, dict(stride=2, cache_index=False), 9),
}


def pair(in_channels, out_channels, kernel, kwargs, ratio=1 / 8):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    fan_in = in_channels // kwargs.get("groups", 1) * kh * kw
    buckets = max(1, int(ratio * out_channels * (fan_in + 1)))
    torch.manual_seed(0)
    fast = HashedConv2d(in_channels, out_channels, kernel, buckets, seed=3, layer=5, **kwargs)
    torch.manual_seed(0)
    naive = NaiveHashedConv2d(in_channels, out_channels, kernel, buckets, seed=3, layer=5, **kwargs)
    return fast, naive


@pytest.mark.parametrize("geometry", GEOMETRIES.values(), ids=GEOMETRIES.keys())
def test_forward_and_gradients_match_the_naive_version(geometry):
    *layer_args, size = geometry
    fast, naive = pair(*layer_args)
    x = torch.randn(5, layer_args[0], size, size, requires_grad=True)
    y_fast, y_naive = fast(x), naive(x)
    assert y_fast.shape == y_naive.shape and torch.allclose(y_fast, y_naive, rtol=1e-5, atol=1e-6)
    grad_out = torch.randn_like(y_fast)
    grads_fast = torch.autograd.grad(y_fast, [x, *fast.parameters()], grad_out)
    grads_naive = torch.autograd.grad(y_naive, [x, *naive.parameters()], grad_out)
    assert len(grads_fast) == len(grads_naive) == 2 + (fast.bias is not None)
    for g_fast, g_naive in zip(grads_fast, grads_naive):
        assert torch.allclose(g_fast, g_naive, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("geometry", GEOMETRIES.values(), ids=GEOMETRIES.keys())
def test_state_is_the_buckets_and_a_bias_not_hashed(geometry):
    *layer_args, _ = geometry
    layer, _ = pair(*layer_args)
    kwargs = layer_args[3]
    stored_bias = kwargs.get("bias", True) and not kwargs.get("hash_bias", True)
    expected = {"buckets": (layer.num_buckets,), **({"bias": (layer.out_channels,)} if stored_bias else {})}
    assert {k: tuple(v.shape) for k, v in layer.state_dict().items()} == expected
    assert sum(p.numel() for p in layer.parameters()) == layer.num_buckets + stored_bias * layer.out_channels


def test_the_kernel_is_hashed_as_a_linear_layer_of_fan_in_inputs():
    conv = HashedConv2d(6, 4, (5, 3), 40, seed=2, layer=7, groups=2)  # fan_in = 3 * 5 * 3
    linear = HashedLinear(45, 4, 40, seed=2, layer=7)
    linear.load_state_dict(conv.state_dict())
    assert torch.equal(conv.virtual_weight(), linear.virtual_weight())
    # position of kernel[o, c, i, j] = o * fan_in + (c * kh + i) * kw + j, the biases after the kernel
    index, sign = bucket_and_sign(4 * 46, 40, seed=2, layer=7)
    values = conv.scale * conv.buckets.detach().numpy()[index] * sign
    weight, bias = conv.weight_and_bias()
    assert np.array_equal(weight.detach().numpy().ravel(), values[:180])
    assert np.array_equal(bias.detach().numpy(), values[180:])


def test_rebuilding_from_the_state_gives_identical_outputs():
    layer = HashedConv2d(8, 8, 3, 100, seed=1, layer=layer_salt("layer1.0.conv1"), padding=1)
    x = torch.randn(2, 8, 6, 6)
    for cache_index in (True, False):
        torch.manual_seed(99)  # other initial buckets: the state dict must bring them
        rebuilt = HashedConv2d(8, 8, 3, 100, seed=1, layer=layer_salt("layer1.0.conv1"), padding=1,
                               cache_index=cache_index)
        rebuilt.load_state_dict(layer.state_dict())
        assert torch.equal(rebuilt(x), layer(x))


def test_salts_and_seeds_give_different_hash_patterns():
    def codes(seed, name):
        return HashedConv2d(16, 16, 3, 300, seed=seed, layer=layer_salt(name)).signed_codes()

    assert torch.equal(codes(0, "layer1.0.conv1"), codes(0, "layer1.0.conv1"))
    assert not torch.equal(codes(0, "layer1.0.conv1"), codes(0, "layer1.0.conv2"))
    assert not torch.equal(codes(0, "layer1.0.conv1"), codes(1, "layer1.0.conv1"))


@pytest.mark.parametrize("ratio", [1 / 8, 1 / 64])
def test_initial_output_scale_is_a_dense_convolutions(ratio):
    torch.manual_seed(0)
    dense = nn.Conv2d(16, 32, 3, padding=1)
    hashed = HashedConv2d.from_dense(dense, int(ratio * 32 * (16 * 9 + 1)), seed=0, salt=layer_salt("conv"))
    x = torch.randn(8, 16, 16, 16)
    with torch.no_grad():
        assert 1 / 1.5 < hashed(x).std() / dense(x).std() < 1.5


@pytest.mark.parametrize("bias", [True, False])
def test_from_dense_copies_the_geometry(bias):
    dense = nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2, bias=bias)
    hashed = HashedConv2d.from_dense(dense, 20, seed=0, salt=3, cache_index=False)
    assert (hashed.weight_shape, hashed.layer, hashed.cache_index) == (tuple(dense.weight.shape), 3, False)
    assert (hashed.hash_bias, hashed.bias) == (bias, None)
    x = torch.randn(2, 4, 9, 11)
    assert hashed(x).shape == dense(x).shape
    with pytest.raises(ValueError, match="zero padding"):
        HashedConv2d.from_dense(nn.Conv2d(4, 6, 3, padding_mode="reflect"), 20, seed=0, salt=3)
    linear = HashedLinear.from_dense(nn.Linear(30, 7, bias=bias), 50, seed=0, salt=4, hash_bias=False)
    assert (linear.in_features, linear.out_features, linear.layer, linear.cache_index) == (30, 7, 4, True)
    assert [name for name, _ in linear.named_parameters()] == ["buckets", "bias"][:1 + bias]


def test_linear_layer_without_bias_matches_the_naive_version_exactly():
    torch.manual_seed(0)
    fast = HashedLinear(300, 200, 5000, seed=3, layer=1, bias=False)
    torch.manual_seed(0)
    naive = NaiveHashedLinear(300, 200, 5000, seed=3, layer=1, bias=False)
    assert fast.bias is None and fast.signed_codes().numel() == 300 * 200
    x, grad_out = torch.randn(64, 300, requires_grad=True), torch.randn(64, 200)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the naive backward sums in position order only when single-threaded
    try:
        y_naive = naive(x)
        grads_naive = torch.autograd.grad(y_naive, [x, naive.buckets], grad_out)
    finally:
        torch.set_num_threads(threads)
    y_fast = fast(x)
    assert torch.equal(y_fast, y_naive)
    assert all(torch.equal(a, b) for a, b in zip(torch.autograd.grad(y_fast, [x, fast.buckets], grad_out), grads_naive))
