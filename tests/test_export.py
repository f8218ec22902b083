import pytest
import torch

from bench.training.evaluate import predictions
from bench.compression.checkpoint import export_compressed, load_compressed
from bench.components import call_target
from conftest import method_node, model_factory

SPEC = model_factory("mlp3", (1, 28, 28), 10, "model.hidden=[300]")


@pytest.mark.parametrize("method_name, budget", [("hashednets", 5000), ("nn", 5000), ("dense", SPEC.params_ref())])
def test_compressed_checkpoint_reloads_to_the_same_predictions(tmp_path, method_name, budget):
    node = method_node(method_name)
    method = call_target(node)
    torch.manual_seed(0)
    model = method.build(SPEC, budget, seed=7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # "trained" weights differ from a fresh build
    x = torch.rand(500, 784)

    size = export_compressed(tmp_path / "model.pt", method, node, SPEC, budget, 7, model)
    reloaded = load_compressed(tmp_path / "model.pt")

    assert size == (tmp_path / "model.pt").stat().st_size
    assert torch.equal(predictions(model, x), predictions(reloaded, x))
    assert torch.equal(model.eval()(x), reloaded(x))


def test_hashed_checkpoint_is_about_the_size_of_its_buckets(tmp_path):
    node = method_node("hashednets")
    method = call_target(node)
    spec = model_factory("mlp3")
    budget = spec.params_ref() // 64
    size = export_compressed(tmp_path / "m.pt", method, node, spec, budget, 0, method.build(spec, budget, 0))
    assert 4 * budget < size < 4 * budget + 4096  # float32 buckets plus a small header, no index
