"""Budgets in bytes: the dense reference, the search for the largest fitting model, the refusal."""
from fractions import Fraction

import pytest
import torch

from bench.compression.budget import TOLERANCE, Budget, dense_checkpoint_bytes, largest_fitting
from bench.components import call_target
from bench.errors import UserError
from bench.compression.checkpoint import checkpoint_bytes, export_compressed
from conftest import method_node, model_factory
from layers.masked import masked_layers

MLP3 = model_factory("mlp3")


def counted(bytes_at):
    def probe(p):
        probe.calls += 1
        return bytes_at(p)
    probe.calls = 0
    return probe


def staircase(p):
    """4 bytes a parameter, a 64-byte step every 100, and nothing below 10 parameters."""
    return None if p < 10 else 1000 + 4 * p + 64 * (p // 100)


def test_search_finds_the_largest_fitting_budget_in_few_probes():
    bytes_at = counted(staircase)
    best = max(p for p in range(10, 20_000) if staircase(p) <= 50_000)
    found, size = largest_fitting(bytes_at, 12_000, 20_000, 50_000)
    assert size == staircase(found) <= 50_000
    assert best - found <= TOLERANCE * best or 50_000 - size <= TOLERANCE * 50_000
    assert bytes_at.calls <= 6


def test_search_stops_at_whole_units_and_at_the_top():
    unit = lambda p: 1000 + 3180 * (p // 795)  # noqa: E731  (a hidden unit of nn on mlp3)
    found, size = largest_fitting(unit, 12_422, 795_010, 49_730)
    assert size <= 49_730 < size + 3180
    assert largest_fitting(lambda p: 4 * p, 7, 100, 10_000) == (100, 400)  # everything fits: the top


def test_search_says_when_nothing_fits_and_what_the_smallest_model_takes():
    assert largest_fitting(staircase, 12_000, 20_000, 500) == (0, staircase(10))


def test_dense_checkpoint_is_the_reference_a_ratio_1_budget_holds_exactly(tmp_path):
    node = method_node("dense")
    dense = call_target(node)
    budget = Budget.plan("bytes", Fraction(1), dense, node, MLP3, seed=3)
    assert budget.bytes_budget == budget.dense_bytes == dense_checkpoint_bytes(MLP3, seed=3)
    model = dense.build(MLP3, budget.build_params, seed=3)
    size = export_compressed(tmp_path / "a-long-file-name.pt", dense, node, MLP3, budget.build_params, 3, model)
    assert size == budget.bytes_budget
    assert budget.as_record(dense.stored_params(model), size)["bytes_fill"] == 1.0


def test_checkpoint_size_does_not_depend_on_the_file_name(tmp_path):
    node = method_node("nn")
    method = call_target(node)
    model = method.build(MLP3, 5000, seed=1)
    sizes = {export_compressed(tmp_path / name, method, node, MLP3, 5000, 1, model) for name in ("m.pt", "model-xyz.pt")}
    assert sizes == {len(checkpoint_bytes(node, MLP3, 5000, 1, method.export_state(model)))}


def test_sizing_leaves_the_run_random_stream_alone():
    node = method_node("hashednets")
    torch.manual_seed(1)
    Budget.plan("bytes", Fraction(1, 8), call_target(node), node, MLP3, seed=1)
    after_sizing = torch.rand(3)
    torch.manual_seed(1)
    assert torch.equal(after_sizing, torch.rand(3))


def test_hashednets_sized_without_its_index_exports_what_it_builds():
    method = call_target(method_node("hashednets"))
    built, sized = method.build(MLP3, 12_000, seed=1), method.build_for_sizing(MLP3, 12_000, seed=1)
    assert sized.layers[0].slots is None and sized.layers[0].codes is None
    assert {k: v.shape for k, v in method.export_state(built).items()} == \
           {k: v.shape for k, v in method.export_state(sized).items()}


@pytest.mark.parametrize("ratio", [Fraction(1, 2), Fraction(1, 8), Fraction(1, 64)])
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_pruning_plan_bounds_the_checkpoint_of_its_planned_cut(ratio, scope):
    """Planned at build time, before any weight is known: the checkpoint of the planned cut never exceeds it."""
    node = method_node("pruning")
    node.scope = scope
    method = call_target(node)
    budget = Budget.plan("bytes", ratio, method, node, MLP3, seed=1)
    model = method.build(MLP3, budget.build_params, seed=1)
    planned = method.planned_bytes(model, budget.state_bytes)
    assert planned <= budget.bytes_budget
    for seed in range(3):  # several random cuts of the planned size
        torch.manual_seed(seed)
        with torch.no_grad():
            for layer in masked_layers(model).values():
                layer.weight.uniform_(-1, 1)
                layer.set_mask(torch.ones_like(layer.mask))
        method.prune(model, method.kept_per_layer)
        assert budget.state_bytes(method.export_state(model)) <= planned


@pytest.mark.parametrize("name, ratio", [("dense", Fraction(1, 8)), ("hashednets", Fraction(1, 8192)),
                                         ("pruning", Fraction(1, 512))])
def test_a_model_whose_checkpoint_cannot_fit_is_refused_in_one_line(name, ratio):
    node = method_node(name)
    with pytest.raises(UserError) as refused:
        Budget.plan("bytes", ratio, call_target(node), node, MLP3, seed=1)
    message = str(refused.value)
    assert "\n" not in message and f"method={name}: its smallest model's checkpoint takes" in message
    assert "over the byte budget of" in message and "the smallest ratio it supports here is" in message
