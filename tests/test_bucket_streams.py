"""Bucket streams: the same forward and bucket sums as the serial position-order pass, for any stream count."""
import numba
import numpy as np
import pytest
import torch

import layers.hashed_linear as hashed_linear
from layers.bucket_streams import build_streams, stream_bucket_sum, stream_scatter
from layers.hashed_linear import HashedLinear, NaiveHashedLinear, _bucket_sum, _signed_gather
from layers.hashing import signed_bucket_codes


def fields(streams):
    return (*(t.numpy() for t in streams.tensors()), streams.bucket_bits, streams.num_weights)


@pytest.mark.parametrize("streams", [1, 2, 3, 7])
@pytest.mark.parametrize("num_buckets", [1, 50, 3000, 40_000])  # 1: empty streams; 40k: empty buckets
def test_streams_match_the_serial_pass_bit_for_bit(streams, num_buckets):
    weights, biases = 30 * 997, 30
    codes = signed_bucket_codes(weights + biases, num_buckets, seed=5, layer=2)
    layout = build_streams(codes, num_buckets, weights, streams)
    assert layout is not None and layout.slots.numel() == weights + biases
    rng = np.random.default_rng(0)
    grad = rng.standard_normal(weights + biases).astype(np.float32)
    expected = np.zeros(num_buckets, np.float32)
    _bucket_sum(codes.numpy(), grad, expected)
    got = np.full(num_buckets, np.nan, np.float32)  # every bucket must be written, empty ones with 0
    stream_bucket_sum(*fields(layout), grad[:weights], grad[weights:], got)
    assert np.array_equal(got.view(np.int32), expected.view(np.int32))

    values = rng.standard_normal(num_buckets).astype(np.float32)
    expected_virtual = np.empty(weights + biases, np.float32)
    _signed_gather(values, codes.numpy(), expected_virtual)
    weight, bias = np.full(weights, np.nan, np.float32), np.full(biases, np.nan, np.float32)
    stream_scatter(*fields(layout), values, weight, bias)
    assert np.array_equal(np.concatenate((weight, bias)), expected_virtual)


def test_streams_refuse_a_layer_whose_gaps_do_not_fit_the_slot():
    # 2**30 buckets leave 1 bit for the position gap within a stream: gaps of 2+ do not fit
    codes = signed_bucket_codes(1000, 2 ** 30, seed=0, layer=0)
    assert build_streams(codes, 2 ** 30, 1000, streams=2) is None
    assert build_streams(codes, 2 ** 30, 1000, streams=1) is not None  # one stream: every gap is 1


def test_layer_falls_back_to_the_serial_path_exactly(monkeypatch):
    monkeypatch.setattr(hashed_linear, "build_streams", lambda *args: None)
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="serially"):
        fast = HashedLinear(300, 200, 5000, seed=3, layer=1)
    torch.manual_seed(0)
    naive = NaiveHashedLinear(300, 200, 5000, seed=3, layer=1)
    assert fast.slots is None and fast.codes.numel() == 200 * 301
    x, grad_out = torch.randn(20, 300), torch.randn(20, 200)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the naive backward sums in position order only when single-threaded
    try:
        y_naive = naive(x)
        grad_naive = torch.autograd.grad(y_naive, naive.buckets, grad_out)[0]
    finally:
        torch.set_num_threads(threads)
    y_fast = fast(x)
    assert torch.equal(y_fast, y_naive)
    assert torch.equal(torch.autograd.grad(y_fast, fast.buckets, grad_out)[0], grad_naive)


def test_one_thread_keeps_the_codes_by_position():
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        layer = HashedLinear(30, 20, 100, seed=0, layer=0)
    finally:
        numba.set_num_threads(threads)
    assert layer.slots is None and layer.codes.numel() == 20 * 31


def test_layer_gradient_is_the_same_with_any_numba_thread_count():
    layer = HashedLinear(300, 200, 5000, seed=3, layer=1)
    x, grad_out = torch.randn(50, 300), torch.randn(50, 200)
    threads = numba.get_num_threads()
    results = []
    try:
        for n in (1, numba.config.NUMBA_NUM_THREADS, 1):
            numba.set_num_threads(n)
            results.append(torch.autograd.grad(layer(x), layer.buckets, grad_out)[0])
    finally:
        numba.set_num_threads(threads)
    assert all(torch.equal(r, results[0]) for r in results)
