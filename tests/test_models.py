"""Every dense model of `conf/model/` builds through the factory, on MNIST- and CIFAR-shaped inputs."""
import pytest
import torch
import torch.nn.functional as F

from bench.compression.model_factory import params_of
from methods.compressible import compressible_layers
from bench.errors import UserError
from bench.compression.model_factory import ModelFactory
from conftest import REPO, compose_config

MODELS = sorted(path.stem for path in (REPO / "conf" / "model").glob("*.yaml"))
SHAPES = [(1, 28, 28), (3, 32, 32)]  # MNIST-like and CIFAR-like; every model here takes both


def factory(name: str, input_shape, num_classes: int = 10) -> ModelFactory:
    cfg = compose_config(f"model={name}")
    return ModelFactory.from_config(cfg, cfg.train, input_shape, num_classes)


@pytest.mark.parametrize("input_shape", SHAPES)
@pytest.mark.parametrize("name", MODELS)
def test_model_gives_logits_per_class(name, input_shape):
    model = factory(name, input_shape, num_classes=7).build().eval()
    assert model(torch.randn(3, *input_shape)).shape == (3, 7)


@pytest.mark.parametrize("name, input_shape, params", [
    ("lenet5", (1, 28, 28), 61_706),  # 156 + 2,416 + 48,120 + 10,164 + 850
    ("lenet5", (3, 32, 32), 62_006),
    ("resnet20", (3, 32, 32), 269_722),  # the 0.27 M of He et al. 2016, Table 6
    ("resnet20", (1, 28, 28), 269_434),  # 2 x 16 x 3 x 3 fewer: only the first conv sees the channels
])
def test_parameter_counts(name, input_shape, params):
    assert params_of(factory(name, input_shape).build()) == params


def test_resnet20_layers_are_named_by_stage_and_block():
    names = [site.name for site in compressible_layers(factory("resnet20", (3, 32, 32)).build())]
    assert len(names) == 20  # 19 convs and the classifier
    assert names[:3] == ["conv1", "layer1.0.conv1", "layer1.0.conv2"] and names[-1] == "fc"
    assert "layer3.2.conv2" in names


@pytest.mark.parametrize("name", MODELS)
def test_width_scales_and_meta_count_matches(name):
    models = factory(name, (3, 32, 32))
    assert models.params_ref() == params_of(models.build())
    half = params_of(models.build(width=0.5))
    assert half == params_of(models.build_on_meta(width=0.5)) < models.params_ref()


@pytest.mark.parametrize("name", MODELS)
def test_meta_build_draws_no_random_numbers(name):
    models = factory(name, (3, 32, 32))
    state = torch.random.get_rng_state()
    models.build_on_meta()
    models.build_on_meta(width=0.37)
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("name", MODELS)
def test_one_sgd_step_reduces_the_loss(name):
    torch.manual_seed(0)
    model = factory(name, (3, 32, 32)).build().train()
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))

    def loss():
        torch.manual_seed(1)  # the same dropout masks before and after the step
        return F.cross_entropy(model(x), y)

    before = loss()
    before.backward()
    torch.optim.SGD(model.parameters(), lr=0.01).step()
    with torch.no_grad():
        assert loss() < before


@pytest.mark.parametrize("input_shape", [(1, 16, 16), (3, 32, 28), (1, 64, 64)])
def test_lenet5_refuses_other_input_sizes(input_shape):
    with pytest.raises(UserError, match="lenet5 takes 28x28 or 32x32 .*" + "x".join(map(str, input_shape))):
        factory("lenet5", input_shape).build()


def test_resnet_depth_must_be_6n_plus_2():
    models = factory("resnet20", (3, 32, 32))
    assert len(compressible_layers(models.build_on_meta(depth=32))) == 32
    with pytest.raises(UserError, match="6n\\+2 .* not 21"):
        models.build_on_meta(depth=21)
