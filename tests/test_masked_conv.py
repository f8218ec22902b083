"""Masked layers for nn.Linear and nn.Conv2d, and `rer` / `pruning` on a small convolutional net
with batch norm: the budget, the masks through training, the checkpoint, `keep_dense`; and on
lenet5 and resnet20."""
import pytest
import torch
from torch import nn

from bench.compression.budget import MIN_FILL
from bench.components import call_target
from bench.errors import UserError
from bench.training.evaluate import logits
from bench.compression.checkpoint import export_compressed, load_compressed
from bench.compression.model_factory import ModelFactory
from bench.training.trainer import Trainer
from conftest import method_node, model_factory
from datasets.splits import DataSplits
from layers.masked import MaskedConv2d, MaskedLinear, masked, masked_layers
from methods.random_edge_removal import random_mask

INPUT_SHAPE = (3, 12, 12)


class TinyConvNet(nn.Module):
    """A convolution without bias, a grouped strided one with bias, each followed by batch norm, and a
    linear head: 1,506 parameters, 48 of them batch norm's."""

    def __init__(self, input_shape, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(input_shape[0], 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


TRUSTED = (f"{__name__}.TinyConvNet",)  # this file's own model: code the test vouches for


FACTORY = ModelFactory({"_target_": f"{__name__}.TinyConvNet", "name": "tiny_conv"}, INPUT_SHAPE, 10)
PARAMS = 1506
METHODS = {"rer": [], "pruning": [], "pruning+global": ["method.scope=global", "method.rounds=2"]}


def node_of(name: str, *overrides: str):
    return method_node(name.split("+")[0], *METHODS[name], *overrides)


def random_data(count: int = 64) -> DataSplits:
    generator = torch.Generator().manual_seed(0)

    def split():
        return (torch.rand(count, *INPUT_SHAPE, generator=generator),
                torch.randint(0, 10, (count,), generator=generator))

    return DataSplits("random", *split(), *split(), *split(), num_classes=10)


def trained(name: str, budget: int, *overrides: str):
    """The method's model for `budget`, fitted for 2 epochs by SGD with momentum and weight decay."""
    node = node_of(name, *overrides)
    method = call_target(node)
    torch.manual_seed(0)
    model = method.build(FACTORY, budget, seed=1)
    trainer = Trainer(epochs=2, batch_size=16, lr=0.05, momentum=0.9, lr_decay=1.0, weight_decay=1e-3,
                      patience=2, seed=1)
    method.fit(model, trainer, random_data())
    return node, method, model


@pytest.mark.parametrize("dense", [
    nn.Linear(5, 3), nn.Linear(5, 3, bias=False),
    nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
    nn.Conv2d(4, 6, (3, 1), dilation=2, padding=(2, 0), bias=False, padding_mode="reflect"),
])
def test_a_masked_layer_keeping_every_weight_is_the_dense_layer(dense):
    layer = masked(dense)
    assert type(layer) is (MaskedLinear if isinstance(dense, nn.Linear) else MaskedConv2d)
    x = torch.randn(2, 5) if isinstance(dense, nn.Linear) else torch.randn(2, 4, 8, 8)
    assert torch.equal(layer(x), dense(x))
    assert layer.state_dict().keys() == dense.state_dict().keys()  # the mask is not stored
    assert layer.weight.data_ptr() != dense.weight.data_ptr()  # a copy: cutting it leaves the dense layer alone


def test_kept_weights_are_row_major_over_the_kernel_entries():
    layer = masked(nn.Conv2d(2, 3, 3, bias=False))
    layer.set_mask(random_mask(layer.weight.numel(), 20, seed=1, salt=7))
    positions = layer.flat_positions()
    assert torch.equal(layer.kept_weights(), layer.weight.detach().flatten()[positions.long()])
    fresh = masked(nn.Conv2d(2, 3, 3, bias=False))
    fresh.load_kept(positions, layer.kept_weights())
    assert torch.equal(fresh.mask, layer.mask) and torch.equal(fresh.weight, layer.weight)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("ratio", [2, 4, 8])
def test_conv_net_stores_at_most_its_budget_and_fills_it(name, ratio):
    budget = PARAMS // ratio
    method = call_target(node_of(name))
    model = method.build(FACTORY, budget, seed=1)
    assert list(masked_layers(model)) == ["features.0", "features.3", "classifier"]
    assert isinstance(model.features[1], nn.BatchNorm2d)
    assert MIN_FILL * budget <= method.stored_params(model) <= budget


@pytest.mark.parametrize("name", METHODS)
def test_removed_kernel_entries_stay_exactly_zero_through_training(name):
    budget = PARAMS // 4
    _, method, model = trained(name, budget)
    rebuilt = call_target(node_of(name)).build(FACTORY, budget, seed=1)
    for (layer_name, layer), fresh in zip(masked_layers(model).items(), masked_layers(rebuilt).values()):
        assert torch.count_nonzero(layer.weight[~layer.mask]) == 0, layer_name
        if name == "rer":
            assert torch.equal(layer.mask, fresh.mask)  # regenerated from the seed and the layer's name
    if name.startswith("pruning"):
        assert sum(int(layer.mask.sum()) for layer in masked_layers(model).values()) == sum(method.kept_per_layer)
    assert method.stored_params(model) <= budget


@pytest.mark.parametrize("name", METHODS)
def test_checkpoint_rebuilds_predictions_and_batch_norm_statistics(name, tmp_path):
    budget = PARAMS // 4
    node, method, model = trained(name, budget)
    path = tmp_path / "model.pt"
    export_compressed(path, method, node, FACTORY, budget, 1, model)
    state = torch.load(path, weights_only=True)["state"]
    assert "features.0.weight" not in state and "features.0.bias" not in state  # a conv without bias
    assert "features.3.bias" in state and "features.1.running_var" in state
    reloaded = load_compressed(path, trusted_models=TRUSTED)
    x = torch.rand(32, *INPUT_SHAPE)
    assert torch.equal(logits(reloaded, x), logits(model, x))
    statistics = {key: value for key, value in model.state_dict().items() if "running" in key or "batches" in key}
    assert statistics["features.4.running_mean"].abs().sum() > 0  # trained, not the initial zeros
    assert all(torch.equal(reloaded.state_dict()[key], value) for key, value in statistics.items())


@pytest.mark.parametrize("name", METHODS)
def test_keep_dense_leaves_a_layer_dense_and_counts_it(name, tmp_path):
    budget = PARAMS // 2
    node, method, model = trained(name, budget, "+method.keep_dense=[classifier]")
    assert type(model.classifier) is nn.Linear
    assert list(masked_layers(model)) == ["features.0", "features.3"]
    kept = sum(int(layer.mask.sum()) for layer in masked_layers(model).values())
    dense = 16 + 48 + 650  # the grouped conv's bias, batch norm, the classifier
    assert method.stored_params(model) == kept + dense <= budget
    path = tmp_path / "model.pt"
    export_compressed(path, method, node, FACTORY, budget, 1, model)
    assert "classifier.weight" in torch.load(path, weights_only=True)["state"]
    x = torch.rand(32, *INPUT_SHAPE)
    assert torch.equal(logits(load_compressed(path, trusted_models=TRUSTED), x), logits(model, x))


@pytest.mark.parametrize("name", ["rer", "pruning"])
@pytest.mark.parametrize("keep_dense, smallest", [([], 77), (["classifier"], 16 + 2 + 48 + 650)])
def test_too_small_a_budget_is_refused_in_one_line(name, keep_dense, smallest):
    method = call_target(method_node(name, f"+method.keep_dense=[{','.join(keep_dense)}]"))
    with pytest.raises(UserError) as refused:
        method.build(FACTORY, smallest - 1, seed=1)
    message = str(refused.value)
    assert "\n" not in message and f"smallest ratio it supports for this model is {smallest}/{PARAMS}" in message
    assert method.stored_params(method.build(FACTORY, smallest, seed=1)) <= smallest


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("model, input_shape", [("lenet5", (1, 28, 28)), ("resnet20", (3, 32, 32))])
def test_published_conv_nets_fill_their_budget_and_reload(name, model, input_shape, tmp_path):
    factory = model_factory(model, input_shape, 10)
    budget = factory.params_ref() // 16
    node = node_of(name)
    method = call_target(node)
    compressed = method.build(factory, budget, seed=1)
    assert MIN_FILL * budget <= method.stored_params(compressed) <= budget
    if name.startswith("pruning"):
        method.prune(compressed, method.kept_per_layer)  # of the initial weights
    export_compressed(tmp_path / "model.pt", method, node, factory, budget, 1, compressed)
    x = torch.rand(4, *input_shape)
    assert torch.equal(logits(load_compressed(tmp_path / "model.pt", trusted_models=TRUSTED), x), logits(compressed, x))
