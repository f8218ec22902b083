"""Every method on every model, at ratios 1/2..1/64: stored <= budget, the budget is used, and the
exported checkpoint reloads to the same predictions; in parameters (the paper's convention) and in
bytes of the exported checkpoint (on the MLPs). Conv nets run on small inputs (ResNet-20's parameters do not
depend on the input size; LeNet-5 takes 28x28 or 32x32)."""
from fractions import Fraction
from pathlib import Path

import pytest
import torch

from bench.compression.budget import Budget, MIN_FILL, params_budget
from bench.components import call_target
from bench.errors import UserError
from bench.compression.checkpoint import export_compressed, load_compressed
from methods.pruning import MagnitudePruning
from conftest import method_node, model_factory

CONF = Path(__file__).resolve().parents[1] / "conf"
MODELS = {"mlp3": model_factory("mlp3"), "mlp5": model_factory("mlp5"), "lenet5": model_factory("lenet5"),
          "resnet20": model_factory("resnet20", (3, 8, 8))}
RATIOS = [Fraction(1, d) for d in (2, 4, 8, 16, 32, 64)]
# (method, model, ratio) whose granularity cannot reach MIN_FILL, with the fill they do reach:
#  nn / dk (the same student): whole hidden units; on mlp3 one unit costs 795 parameters,
#    about 6% of the 12,422-parameter budget at 1/64.
#  lowrank with learn_projection: whole ranks; on mlp3 a rank of the first layer costs
#    784 + 1000 = 1,784 parameters (14% of the budget at 1/64) and the output layer needs
#    at least rank 1 (1,020 parameters).
#  nn / dk on the conv nets: one width multiplier for every layer, and a channel more in LeNet-5's
#    second conv costs 25 weights of each unit of the first dense layer: at 1/32 the next width
#    step is 33% over the budget.
BELOW_MIN_FILL = {
    ("nn", "mlp3", Fraction(1, 64)): 0.96,
    ("dk", "mlp3", Fraction(1, 64)): 0.96,
    ("lowrank+learn_projection", "mlp3", Fraction(1, 64)): 0.96,
    **{(name, "lenet5", Fraction(1, d)): fill for name in ("nn", "dk")
       for d, fill in ((8, 0.90), (16, 0.97), (32, 0.75), (64, 0.94))},
    **{(name, "resnet20", Fraction(1, d)): fill for name in ("nn", "dk")
       for d, fill in ((4, 0.96), (16, 0.93), (32, 0.96), (64, 0.89))},
}
# (method, model, ratio) that cannot be built at all: learned low-rank factors need rank 1 in
# every layer, more than 1/64 of a conv net.
REFUSED = {("lowrank+learn_projection", model, Fraction(1, 64)) for model in ("lenet5", "resnet20")}
# The same granularity in bytes (4 per parameter, and the checkpoint's own overhead on top):
#  nn / dk on mlp3 at 1/64: a hidden unit costs 3,180 bytes, 6.4% of the 49,730-byte budget;
#  lowrank with learn_projection on mlp3 at 1/64: a rank of the first layer costs 7,136 bytes.
BELOW_MIN_BYTES_FILL = {
    ("nn", "mlp3", Fraction(1, 64)): 0.95,
    ("dk", "mlp3", Fraction(1, 64)): 0.95,
    ("lowrank+learn_projection", "mlp3", Fraction(1, 64)): 0.94,
}
METHODS = {  # name -> overrides; `dense` stores everything and runs at ratio 1 only
    "nn": [], "hashednets": [], "hashednets_dk": [], "dk": [], "rer": [], "sketch": [],
    "lowrank": [], "lowrank+learn_projection": ["method.learn_projection=true"],
    "pruning": [], "pruning+global": ["method.scope=global"],
}


def grid_method_node(name: str):
    return method_node(name.split("+")[0], *METHODS[name])


def test_every_method_config_is_in_the_grid():
    configured = {p.stem for p in (CONF / "method").glob("*.yaml")} - {"dense"}
    assert configured == {name.split("+")[0] for name in METHODS}


@pytest.mark.parametrize("name", METHODS)
def test_budget_grid(name, tmp_path):
    node = grid_method_node(name)
    for model, factory in MODELS.items():
        x = torch.rand(8, *factory.input_shape, generator=torch.Generator().manual_seed(0))
        for ratio in RATIOS:
            budget = params_budget(ratio, factory.params_ref())
            method = call_target(node)
            if (name, model, ratio) in REFUSED:
                with pytest.raises(UserError, match="smallest ratio it supports"):
                    method.build(factory, budget, seed=1)
                continue
            built = method.build(factory, budget, seed=1)
            stored = method.stored_params(built)
            assert stored <= budget, (name, model, ratio)
            floor = BELOW_MIN_FILL.get((name, model, ratio), MIN_FILL)
            assert stored / budget >= floor, (name, model, ratio, stored / budget)
            if isinstance(method, MagnitudePruning):  # a checkpoint holds the cut model
                method.prune_to_budget(built)
            export_compressed(tmp_path / "model.pt", method, node, factory, budget, 1, built)
            assert torch.equal(built.eval()(x), load_compressed(tmp_path / "model.pt")(x)), (name, model, ratio)


@pytest.mark.parametrize("name", METHODS)
def test_byte_budget_grid(name, tmp_path):
    """Sized for floor(ratio * the dense checkpoint's bytes), the exported checkpoint fits and fills it."""
    node = grid_method_node(name)
    for model in ("mlp3", "mlp5"):  # a conv net's checkpoint at 1/64 is about its format's overhead
        factory = MODELS[model]
        for ratio in RATIOS:
            method = call_target(node)
            budget = Budget.plan("bytes", ratio, method, node, factory, seed=1)
            built = method.build(factory, budget.build_params, seed=1)
            budget.require_within(method, built)
            if isinstance(method, MagnitudePruning):  # its size is decided at the last cut (here of the initial weights)
                method.prune_to_budget(built)
            size = export_compressed(tmp_path / "model.pt", method, node, factory, budget.build_params, 1, built)
            assert size <= budget.bytes_budget, (name, model, ratio)
            floor = BELOW_MIN_BYTES_FILL.get((name, model, ratio), MIN_FILL)
            assert size / budget.bytes_budget >= floor, (name, model, ratio, size / budget.bytes_budget)


@pytest.mark.parametrize("name, smallest", [("nn", 805), ("dk", 805), ("rer", 1012), ("pruning", 1012),
                                            ("lowrank", 2020), ("sketch", 2020)])
def test_too_small_a_budget_names_the_smallest_ratio(name, smallest):
    factory = MODELS["mlp3"]
    method = call_target(grid_method_node(name))
    with pytest.raises(UserError, match=f"smallest ratio it supports for this model is {smallest}/795010"):
        method.build(factory, smallest - 1, seed=1)
    assert method.stored_params(call_target(grid_method_node(name)).build(factory, smallest, seed=1)) <= smallest
