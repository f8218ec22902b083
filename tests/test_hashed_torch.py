"""The torch path of the hashed layers (impl="torch", and "auto" off the CPU) against the naive
reference and the numba path; its GPU variants are marked `gpu` and skipped without CUDA."""
import pytest
import torch
from torch import nn

from bench.errors import UserError
from layers.hashed_conv import HashedConv2d, NaiveHashedConv2d
from layers.hashed_linear import HashedLinear, NaiveHashedLinear
from methods.hashednets import HashedNets

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# in, out, K, keyword arguments
LINEAR = {
    "300x200": (300, 200, 5000, {}),
    "17x5 bias not hashed": (17, 5, 30, dict(hash_bias=False)),
    "64x33 no bias": (64, 33, 200, dict(bias=False)),
    "40x30 no cache": (40, 30, 100, dict(cache_index=False)),
}
# in, out, kernel, K, keyword arguments, input size
CONV = {
    "5x5 padded": (6, 16, 5, 300, dict(padding=2), 14),
    "groups 2, stride 2": (4, 6, 3, 20, dict(groups=2, stride=2, padding=1), 9),
    "no bias": (8, 8, 3, 70, dict(bias=False, padding=1), 6),
    "bias not hashed, no cache": (3, 5, (3, 2), 10, dict(hash_bias=False, cache_index=False), 8),
}


def linear_pair(spec, impl="torch", dtype=torch.float32):
    fan_in, fan_out, buckets, kwargs = spec
    torch.manual_seed(0)
    layer = HashedLinear(fan_in, fan_out, buckets, seed=3, layer=1, impl=impl, **kwargs)
    torch.manual_seed(0)
    naive = NaiveHashedLinear(fan_in, fan_out, buckets, seed=3, layer=1, **kwargs)
    return layer.to(dtype), naive.to(dtype), torch.randn(7, fan_in, dtype=dtype)


def conv_pair(spec, impl="torch"):
    in_channels, out_channels, kernel, buckets, kwargs, size = spec
    torch.manual_seed(0)
    layer = HashedConv2d(in_channels, out_channels, kernel, buckets, seed=2, layer=4, impl=impl, **kwargs)
    torch.manual_seed(0)
    naive = NaiveHashedConv2d(in_channels, out_channels, kernel, buckets, seed=2, layer=4, **kwargs)
    return layer, naive, torch.randn(5, in_channels, size, size)


def assert_matches(layer, reference, x, rtol=1e-5, atol=1e-5):
    """Same output and same gradients (input, then each parameter) as the reference, on the reference's device."""
    x_layer = x.to(layer.buckets.device).requires_grad_()
    x_reference = x.clone().requires_grad_()
    y, y_reference = layer(x_layer), reference(x_reference)
    torch.testing.assert_close(y.cpu(), y_reference, rtol=rtol, atol=atol)
    grad_out = torch.randn_like(y_reference)
    grads = torch.autograd.grad(y, [x_layer, *layer.parameters()], grad_out.to(y.device))
    grads_reference = torch.autograd.grad(y_reference, [x_reference, *reference.parameters()], grad_out)
    assert len(grads) == len(grads_reference)
    for grad, grad_reference in zip(grads, grads_reference):
        torch.testing.assert_close(grad.cpu(), grad_reference, rtol=rtol, atol=atol)


def train(layer, x, steps=3):
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        optimizer.zero_grad()
        layer(x).square().mean().backward()
        optimizer.step()


@pytest.mark.parametrize("spec", LINEAR.values(), ids=LINEAR.keys())
def test_linear_matches_the_naive_version(spec):
    assert_matches(*linear_pair(spec))


@pytest.mark.parametrize("spec", CONV.values(), ids=CONV.keys())
def test_conv_matches_the_naive_version(spec):
    assert_matches(*conv_pair(spec))


def test_float64_matches_the_naive_version_closely():
    assert_matches(*linear_pair(LINEAR["300x200"], dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_a_retained_graph_gives_the_same_gradients_twice():
    layer, _, x = linear_pair(LINEAR["300x200"])
    y = layer(x).sum()
    first = torch.autograd.grad(y, layer.buckets, retain_graph=True)[0]
    assert torch.equal(first, torch.autograd.grad(y, layer.buckets)[0])


@pytest.mark.parametrize("make", [linear_pair, conv_pair], ids=["linear", "conv"])
def test_a_checkpoint_trained_on_one_path_loads_on_the_other(make):
    spec = LINEAR["300x200"] if make is linear_pair else CONV["5x5 padded"]
    for trained_on, loaded_on in (("torch", "numba"), ("numba", "torch")):
        trained, _, x = make(spec, impl=trained_on)
        train(trained, x)
        loaded, _, _ = make(spec, impl=loaded_on)
        assert trained.state_dict().keys() == loaded.state_dict().keys()
        loaded.load_state_dict(trained.state_dict())
        torch.testing.assert_close(loaded(x), trained(x), rtol=1e-5, atol=1e-6)


def test_auto_runs_numba_on_the_cpu():
    auto, _, x = linear_pair(LINEAR["300x200"], impl="auto")
    numba_layer, _, _ = linear_pair(LINEAR["300x200"], impl="numba")
    assert_matches(auto, numba_layer, x, rtol=0, atol=0)  # bit for bit (the torch path may differ in rounding)


def test_a_layer_moved_off_the_cpu_regenerates_its_codes_in_place_of_the_streams():
    layer = HashedLinear(300, 200, 5000, seed=3, layer=1, impl="auto").to("meta")
    y = layer(torch.empty(7, 300, device="meta"))
    assert y.shape == (7, 200) and y.device.type == "meta"
    assert layer.codes.shape == (200 * 301,) and layer.codes.dtype == torch.int32
    assert layer.slots is None and "codes" not in layer.state_dict()


def test_numba_off_the_cpu_and_an_unknown_impl_are_refused():
    layer = HashedLinear(30, 20, 50, seed=3, layer=1, impl="numba").to("meta")
    with pytest.raises(RuntimeError, match="impl='numba' runs on the CPU only"):
        layer(torch.empty(2, 30, device="meta"))
    with pytest.raises(ValueError, match="impl='cuda'"):
        HashedLinear(30, 20, 50, seed=3, layer=1, impl="cuda")
    with pytest.raises(UserError, match="impl='cuda'"):
        HashedNets(impl="cuda")


def test_from_dense_and_the_method_pass_impl_on():
    assert HashedLinear.from_dense(nn.Linear(30, 7), 20, seed=0, salt=4, impl="torch").impl == "torch"
    assert HashedConv2d.from_dense(nn.Conv2d(3, 4, 3), 20, seed=0, salt=3, impl="numba").impl == "numba"
    model = HashedNets(impl="torch").compress(nn.Sequential(nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 5)), 300, 0)
    assert [m.impl for m in model.modules() if isinstance(m, HashedLinear)] == ["torch", "torch"]


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("spec", LINEAR.values(), ids=LINEAR.keys())
def test_linear_on_cuda_matches_the_naive_version(spec):
    layer, naive, x = linear_pair(spec, impl="auto")
    assert_matches(layer.cuda(), naive, x)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("spec", CONV.values(), ids=CONV.keys())
def test_conv_on_cuda_matches_the_naive_version(spec):
    layer, naive, x = conv_pair(spec, impl="auto")
    assert_matches(layer.cuda(), naive, x, atol=1e-4)


@pytest.mark.gpu
@needs_cuda
def test_a_checkpoint_trained_on_cuda_loads_on_the_cpu():
    trained, _, x = linear_pair(LINEAR["300x200"], impl="auto")
    trained.cuda()
    train(trained, x.cuda())
    loaded, _, _ = linear_pair(LINEAR["300x200"], impl="auto")
    loaded.load_state_dict(trained.state_dict())
    torch.testing.assert_close(loaded(x), trained(x.cuda()).cpu(), rtol=1e-5, atol=1e-5)
