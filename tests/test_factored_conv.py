"""lowrank and sketch on a small conv net with batch norm: each factored conv is the dense conv's
geometry with the product kernel, the budget counts what is left dense, the fixed factors are
regenerated from the seed, and a checkpoint reloads to the same predictions."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.components import call_target
from bench.errors import UserError
from bench.compression.checkpoint import export_compressed, load_compressed
from bench.compression.model_factory import ModelFactory
from layers.low_rank import LowRankFactors
from conftest import method_node

METHODS = {"lowrank": [], "lowrank+learn_projection": ["method.learn_projection=true"], "sketch": []}
CONVS = ("conv1", "conv2", "conv3")
INPUT_SHAPE = (3, 8, 8)


class ConvNet(nn.Module):
    """Convs without bias before batch norm, one strided, one dilated with a bias, then a linear head."""

    def __init__(self, input_shape, num_classes: int, groups: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_shape[0], 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False, groups=groups)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=2, dilation=2)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = torch.relu(self.conv3(x))
        return self.fc(x.mean((2, 3)))


TRUSTED = (f"{__name__}.ConvNet",)  # this file's own model: code the test vouches for


def conv_net(**options) -> ModelFactory:
    return ModelFactory({"_target_": f"{__name__}.ConvNet", "name": "convnet", **options}, INPUT_SHAPE, 10)


FACTORY = conv_net()
PARAMS_REF = FACTORY.params_ref()  # 14,714, of which 96 in batch norm
BATCH_NORM = 2 * (16 + 32)


def node(name: str):
    return method_node(name.split("+")[0], *METHODS[name])


def build(name: str, ratio_denominator: int = 8, seed: int = 1, factory: ModelFactory = FACTORY):
    method = call_target(node(name))
    budget = PARAMS_REF // ratio_denominator
    return method, budget, method.build(factory, budget, seed)


def product_kernel(layer: nn.Module) -> torch.Tensor:
    """The (out, fan_in) virtual weights from the factors, the count sketch written out as a matrix."""
    if isinstance(layer, LowRankFactors):
        return layer.scale * layer.weight @ layer.projection
    sketch = layer.sketch
    matrix = torch.zeros(sketch.sketch_size, sketch.in_features)
    matrix[sketch.rows, torch.arange(sketch.in_features)] = sketch.signs
    return layer.scale * layer.weight @ matrix


def fixed_parts(model: nn.Module) -> dict:
    """The buffers a seed regenerates: those not in the state dict."""
    state = model.state_dict()
    return {name: buffer for name, buffer in model.named_buffers() if name not in state}


@pytest.mark.parametrize("name", METHODS)
def test_factored_layers_are_the_dense_geometry_with_the_product_kernel(name):
    dense = FACTORY.build()
    _, _, model = build(name)
    torch.manual_seed(0)
    for conv, x in zip(CONVS, (torch.randn(4, 3, 8, 8), torch.randn(4, 16, 8, 8), torch.randn(4, 32, 4, 4))):
        layer, reference = getattr(model, conv), getattr(dense, conv)
        assert (layer.bias is None) == (reference.bias is None)
        kernel = product_kernel(layer).view_as(reference.weight)
        expected = F.conv2d(x, kernel, layer.bias, reference.stride, reference.padding, reference.dilation)
        assert layer(x).shape == reference(x).shape
        assert torch.allclose(layer(x), expected, atol=1e-5), conv
    x = torch.randn(4, 32)  # the linear path (sketch: S applied to x) is the same product
    assert torch.allclose(model.fc(x), F.linear(x, product_kernel(model.fc), model.fc.bias), atol=1e-5)


@pytest.mark.parametrize("name", METHODS)
def test_stored_within_the_budget_batch_norm_included_and_filled(name):
    for denominator in (2, 4, 8, 16):
        method, budget, model = build(name, denominator)
        stored = method.stored_params(model)
        assert stored == sum(p.numel() for p in model.parameters())
        assert sum(p.numel() for n, p in model.named_parameters() if n.startswith("bn")) == BATCH_NORM
        assert 0.97 * budget <= stored <= budget, (denominator, stored / budget)


@pytest.mark.parametrize("name", METHODS)
def test_fixed_factors_are_regenerated_from_the_seed_not_stored(name):
    _, _, model = build(name)
    fixed = fixed_parts(model)
    if name == "lowrank+learn_projection":
        assert not fixed and "conv1.projection" in model.state_dict()
        return
    expected = {"lowrank": {f"{layer}.projection" for layer in (*CONVS, "fc")},
                "sketch": {f"{layer}.sketch.{table}" for layer in (*CONVS, "fc") for table in ("rows", "signs")}}
    assert set(fixed) == expected[name]
    again, other_seed = fixed_parts(build(name)[2]), fixed_parts(build(name, seed=2)[2])
    assert all(torch.equal(fixed[key], again[key]) for key in fixed)
    drawn = "conv1.projection" if name == "lowrank" else "conv1.sketch.signs"
    assert not torch.equal(fixed[drawn], other_seed[drawn])
    assert all(b.device.type == "meta" for b in model.to("meta").buffers())  # buffers follow the module


@pytest.mark.parametrize("name", METHODS)
def test_checkpoint_reloads_to_identical_predictions(name, tmp_path):
    method, budget, model = build(name)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # "trained" weights differ from a fresh build
        model.train()(torch.rand(32, *INPUT_SHAPE))  # and so do batch norm's running statistics
    path = tmp_path / "model.pt"
    export_compressed(path, method, node(name), FACTORY, budget, 1, model)
    x = torch.rand(64, *INPUT_SHAPE)
    assert torch.equal(load_compressed(path, trusted_models=TRUSTED)(x), model.eval()(x))


@pytest.mark.parametrize("name", METHODS)
def test_a_fresh_factored_conv_outputs_at_a_dense_convs_scale(name):
    torch.manual_seed(0)
    dense = FACTORY.build()
    _, _, model = build(name)
    for conv, x in zip(CONVS, (torch.randn(64, 3, 8, 8), torch.randn(64, 16, 8, 8), torch.randn(64, 32, 4, 4))):
        with torch.no_grad():
            ratio = (getattr(model, conv)(x).std() / getattr(dense, conv)(x).std()).item()
        assert 0.8 < ratio < 1.25, (conv, ratio)


@pytest.mark.parametrize("name, smallest", [("lowrank", 96 + 16 + 32 + 32 + 32 + 10 + 10),
                                            ("lowrank+learn_projection", 96 + 43 + 176 + 320 + 32 + 52),
                                            ("sketch", 96 + 16 + 32 + 32 + 32 + 10 + 10)])
def test_too_small_a_budget_counts_what_is_left_dense(name, smallest):
    """The smallest model: rank (or sketch size) 1 everywhere, each layer's bias, and batch norm."""
    method = call_target(node(name))
    with pytest.raises(UserError, match=f"plus 96 left dense.* supports for this model is {smallest}/{PARAMS_REF}"):
        method.build(FACTORY, smallest - 1, seed=1)
    assert method.stored_params(method.build(FACTORY, smallest, seed=1)) == smallest


@pytest.mark.parametrize("name", METHODS)
def test_a_grouped_conv_is_refused_in_one_line_or_kept_dense(name):
    grouped = conv_net(groups=2)
    with pytest.raises(UserError) as refused:
        call_target(node(name)).build(grouped, PARAMS_REF // 4, seed=1)
    assert "\n" not in str(refused.value) and "'conv2' has groups=2" in str(refused.value)
    method = call_target({**node(name), "keep_dense": ["conv2"]})
    model = method.build(grouped, PARAMS_REF // 4, seed=1)
    assert type(model.conv2) is nn.Conv2d
    assert method.stored_params(model) <= PARAMS_REF // 4
