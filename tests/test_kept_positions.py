"""Positions of pruned weights: relative indices (with fillers) or a bitmap, whichever is smaller."""
import math

import pytest
import torch

from bench.components import call_target
from bench.compression.checkpoint import export_compressed, load_compressed
from conftest import method_node, model_factory
from layers.masked import masked_layers
from methods.kept_positions import MAX_GAP, decode, encode, largest_encoding, position_costs


def mask_at(positions, numel):
    mask = torch.zeros(numel, dtype=torch.bool)
    mask[torch.tensor(positions, dtype=torch.long)] = True
    return mask


def round_trip(mask):
    weight = torch.randn(mask.numel()) * mask
    encoded = encode(weight, mask)
    positions, values = decode(encoded, mask.numel())
    assert torch.equal(mask_at(positions.tolist(), mask.numel()), mask)
    rebuilt = torch.zeros(mask.numel())
    rebuilt[positions] = values
    assert torch.equal(rebuilt, weight)
    return encoded


@pytest.mark.parametrize("density, chosen", [(0.001, "relative"), (0.05, "relative"), (0.5, "bitmap")])
def test_random_masks_round_trip_exactly_in_the_smaller_encoding(density, chosen):
    torch.manual_seed(0)
    mask = torch.rand(100_000) < density
    encoded = round_trip(mask)
    costs = position_costs(mask)
    assert costs.chosen == chosen and ("bits" in encoded) == (chosen == "bitmap")
    assert sum(t.numel() * t.element_size() for t in encoded.values()) == min(costs.relative, costs.bitmap)
    assert (costs.fillers > 0) == (density == 0.001)  # gaps over 256 are common only when very sparse


@pytest.mark.parametrize("first, fillers", [(MAX_GAP - 1, 0), (MAX_GAP, 1), (2 * MAX_GAP - 1, 1), (2 * MAX_GAP, 2)])
def test_a_gap_over_256_takes_fillers(first, fillers):
    mask = mask_at([first, first + 1], 3 * MAX_GAP)  # the first gap counts from position -1
    costs = position_costs(mask)
    assert (costs.kept, costs.fillers, costs.relative) == (2, fillers, 5 * (2 + fillers))
    encoded = round_trip(mask)
    assert encoded["gaps"].numel() == 2 + fillers


def test_relative_against_bitmap_costs():
    numel = 8000  # bitmap: 1,000 bytes of bits and 4 per value; relative: 5 per entry
    every_40th = mask_at(range(0, numel, 40), numel)  # 200 kept: relative 1,000 bytes, bitmap 1,800
    every_4th = mask_at(range(0, numel, 4), numel)    # 2,000 kept: relative 10,000, bitmap 9,000
    assert (position_costs(every_40th).relative, position_costs(every_40th).bitmap) == (1000, 1800)
    assert (position_costs(every_4th).relative, position_costs(every_4th).bitmap) == (10_000, 9000)
    assert position_costs(every_40th).chosen == "relative" and position_costs(every_4th).chosen == "bitmap"
    tie = mask_at(range(0, numel, 8), numel)  # 1,000 kept: 5,000 bytes either way: relative
    assert position_costs(tie).chosen == "relative"


@pytest.mark.parametrize("kept", [1, 30, 300, 3000, 30_000])
def test_largest_encoding_bounds_every_mask_of_that_many(kept):
    numel = 60_000
    bound = sum(t.numel() * t.element_size() for t in largest_encoding(kept, numel).values())
    worst_spread = mask_at([min(numel - 1, (MAX_GAP + 1) * (i + 1) - 1) for i in range(kept)], numel)
    masks = [worst_spread] + [mask_at(torch.randperm(numel)[:kept].tolist(), numel) for _ in range(3)]
    for mask in masks:
        costs = position_costs(mask)
        assert min(costs.relative, costs.bitmap) <= bound
    assert bound <= min(4 * kept + math.ceil(numel / 8), 5 * (kept + (numel - kept) // MAX_GAP))


def test_pruned_model_with_both_encodings_reloads_to_identical_predictions(tmp_path):
    factory = model_factory("mlp3", (1, 28, 28), 10, "model.hidden=[300]")
    node = method_node("pruning")
    method = call_target(node)
    budget = 80_000
    model = method.build(factory, budget, seed=1)
    method.prune(model, [78_000, 300])  # a third of layer 0 (bitmap), a tenth of layer 1 (relative)
    state = method.export_state(model)
    assert "layers.0.bits" in state and "layers.1.gaps" in state
    export_compressed(tmp_path / "model.pt", method, node, factory, budget, 1, model)
    reloaded = load_compressed(tmp_path / "model.pt")
    x = torch.rand(200, 784)
    assert torch.equal(reloaded(x), model.eval()(x))
    pairs = zip(masked_layers(model).values(), masked_layers(reloaded).values())
    assert all(torch.equal(a.mask, b.mask) for a, b in pairs)
