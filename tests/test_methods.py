"""Each compression method trains, stays within its budget, and reloads from its checkpoint exactly."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from bench.compression.budget import params_budget
from bench.run.settings import parse_ratio
from bench.components import call_target
from bench.training.evaluate import error_rate, logits
from bench.compression.checkpoint import export_compressed, load_compressed
from bench.compression.model_factory import ModelFactory
from bench.training.trainer import Trainer
from conftest import model_factory
from layers.masked import masked_layers
from tasks.compress import run, start

CONF = Path(__file__).resolve().parents[1] / "conf"


def config(tmp_path, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=["logger=none", "dataset=mnist5k_tiny", "train.epochs=1",
                                            f"output_root={tmp_path}", *overrides])


def train(cfg, data=None):
    """Build and fit the configured method; `data` saves reloading the configured data set."""
    torch.manual_seed(cfg.seed)
    data = call_target(cfg.dataset) if data is None else data
    factory = ModelFactory.from_config(cfg, cfg.train, data.input_shape, data.num_classes)
    method = call_target(cfg.method)
    budget = params_budget(parse_ratio(cfg.ratio), factory.params_ref())
    model = method.build(factory, budget, cfg.seed)
    fit = method.fit(model, Trainer.from_config(cfg.train, cfg.seed, on_epoch=lambda metrics: None), data)
    return data, factory, method, budget, model, fit


@pytest.mark.parametrize("overrides", [
    ["method=lowrank"], ["method=lowrank", "method.learn_projection=true", "train.epochs=3"],  # a slow start
    ["method=rer"],
    ["method=pruning"], ["method=sketch"], ["method=dk"],
    ["method=hashednets_dk", "train.epochs=4"],  # 2 steps an epoch: the old code too was at 75% after 3
])
def test_trains_within_budget_and_reloads_to_identical_predictions(tmp_path, overrides):
    cfg = config(tmp_path, "ratio=1/16", *overrides)
    data, factory, method, budget, model, fit = train(cfg)
    assert fit.best_val_error < 0.85  # it learned something (10 classes)
    stored = method.stored_params(model)
    assert stored <= budget
    path = tmp_path / "model.pt"
    size = export_compressed(path, method, cfg.method, factory, budget, cfg.seed, model)
    assert size == path.stat().st_size
    saved = torch.load(path, weights_only=True)["state"]
    assert sum(t.numel() for t in saved.values() if t.is_floating_point()) == stored
    assert size < 4 * factory.params_ref() / 4  # far below a dense float32 checkpoint
    reloaded = load_compressed(path)
    assert torch.equal(logits(reloaded, data.test_x), logits(model, data.test_x))


def test_lowrank_fixed_projection_is_regenerated_not_stored(tmp_path):
    cfg = config(tmp_path, "method=lowrank")
    fixed = call_target(cfg.method)
    learned = call_target(config(tmp_path, "method=lowrank", "method.learn_projection=true").method)
    mlp3 = model_factory("mlp3")
    a, b = fixed.build(mlp3, 20_000, seed=1), fixed.build(mlp3, 20_000, seed=1)
    assert not any("projection" in k for k in a.state_dict())
    assert torch.equal(a.layers[0].projection, b.layers[0].projection)
    assert not torch.equal(a.layers[0].projection, fixed.build(mlp3, 20_000, seed=2).layers[0].projection)
    both = learned.build(mlp3, 20_000, seed=1)
    assert "layers.0.projection" in both.state_dict()
    _, fixed_ranks = fixed.ranks(mlp3.build_on_meta(), 20_000)
    _, learned_ranks = learned.ranks(mlp3.build_on_meta(), 20_000)
    assert fixed_ranks[0] > 1.5 * learned_ranks[0]


def test_sketch_layer_is_scaled_stored_weight_times_count_sketch(tmp_path):
    cfg = config(tmp_path, "method=sketch")
    model = call_target(cfg.method).build(model_factory("mlp3"), 50_000, seed=1)
    layer = model.layers[0]
    x = torch.randn(4, 784)
    m = layer.sketch.sketch_size
    dense_sketch = torch.zeros(m, 784)
    dense_sketch[layer.sketch.rows, torch.arange(784)] = layer.sketch.signs
    assert layer.scale == (m / 784) ** 0.25
    assert torch.allclose(layer(x), F.linear(layer.scale * x @ dense_sketch.T, layer.weight, layer.bias), atol=1e-5)
    assert {k: tuple(v.shape) for k, v in layer.state_dict().items()} == {"weight": (1000, m), "bias": (1000,)}


def test_rer_removed_weights_stay_exactly_zero(tmp_path):
    cfg = config(tmp_path, "method=rer", "ratio=1/16", "train.weight_decay=0.001")
    _, factory, method, budget, model, _ = train(cfg)
    rebuilt = method.build(factory, budget, cfg.seed)
    for layer, fresh in zip(masked_layers(model).values(), masked_layers(rebuilt).values()):
        assert torch.equal(layer.mask, fresh.mask)  # regenerated from the seed
        assert torch.count_nonzero(layer.weight[~layer.mask]) == 0
        assert torch.count_nonzero(layer.weight[layer.mask]) == layer.mask.sum()


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_pruning_rounds_end_exactly_at_the_budget(tmp_path, scope):
    cfg = config(tmp_path, "method=pruning", f"method.scope={scope}", "method.rounds=2",
                 "method.retrain_epochs=1", "ratio=1/32")
    _, factory, method, budget, model, fit = train(cfg)
    assert [m["phase"] for m in fit.history] == ["train", "retrain 1/2", "retrain 2/2"]
    layers = masked_layers(model)
    kept = [int(layer.mask.sum()) for layer in layers.values()]
    biases = sum(layer.bias.numel() for layer in layers.values())
    assert sum(kept) + biases == method.stored_params(model) == budget
    if scope == "layer":
        assert kept == method.kept_per_layer
    for layer in layers.values():
        assert torch.count_nonzero(layer.weight[~layer.mask]) == 0
    state = method.export_state(model)
    assert fit.notes["pruning"]["layers"] == list(layers) == ["layers.0", "layers.1"]
    for name, positions in zip(layers, fit.notes["pruning"]["positions"]):  # the smaller encoding, said in the notes
        index = state[f"{name}.bits" if positions["encoding"] == "bitmap" else f"{name}.gaps"]
        assert index.dtype == torch.uint8
        assert index.numel() * 1 + 4 * state[f"{name}.values"].numel() == min(positions["relative_bytes"],
                                                                               positions["bitmap_bytes"])
    assert fit.notes["pruning"]["kept_per_layer"] == kept


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_prune_keeps_the_largest_magnitudes(tmp_path, scope):
    cfg = config(tmp_path, "method=pruning", f"method.scope={scope}")
    method = call_target(cfg.method)
    model = method.build(model_factory(), 50_000, seed=1)
    layers = masked_layers(model).values()
    magnitudes = [layer.weight.detach().abs().clone() for layer in layers]  # before the cut zeroes them
    method.prune(model, [40_000, 500])
    kept = [m[layer.mask] for m, layer in zip(magnitudes, layers)]
    dropped = [m[~layer.mask] for m, layer in zip(magnitudes, layers)]
    assert sum(k.numel() for k in kept) == 40_500
    pairs = zip(kept, dropped) if scope == "layer" else [(torch.cat(kept), torch.cat(dropped))]
    for k, d in pairs:
        assert k.min() >= d.max()
    if scope == "layer":
        assert [k.numel() for k in kept] == [40_000, 500]


def run_in(cfg, output_dir):
    return run(cfg, output_dir, start(cfg))


def test_run_records_pruning_params_and_bytes(tmp_path):
    record = run_in(config(tmp_path, "method=pruning", "ratio=1/8"), tmp_path / "run")
    assert record["params_stored"] == record["params_budget"] and record["budget_unit"] == "params"
    # values and biases as parameters, plus the positions (and fillers) in the smaller encoding of each layer
    kept = sum(record["fit_notes"]["pruning"]["kept_per_layer"])
    positions = sum(min(p["relative_bytes"], p["bitmap_bytes"]) - 4 * k
                    for p, k in zip(record["fit_notes"]["pruning"]["positions"],
                                    record["fit_notes"]["pruning"]["kept_per_layer"]))
    assert kept / 8 < positions < 2 * kept  # far below the 4 bytes per weight of int32 positions
    assert 4 * record["params_stored"] + positions < record["bytes_on_disk"] < 4 * record["params_stored"] + positions + 4096
    assert [p["phase"] for p in record["fit_notes"]["pruning"]["phases"]] == ["train", "retrain"]


def test_run_under_a_byte_budget_records_bytes_and_reloads(tmp_path):
    cfg = config(tmp_path, "method=pruning", "ratio=1/16", "budget.unit=bytes", "method.retrain_epochs=1")
    record = run_in(cfg, tmp_path / "run")
    assert record["budget_unit"] == "bytes"
    assert record["bytes_budget"] == record["bytes_dense_checkpoint"] // 16
    assert 0.97 * record["bytes_budget"] <= record["bytes_on_disk"] <= record["bytes_budget"]
    assert record["bytes_fill"] == round(record["bytes_on_disk"] / record["bytes_budget"], 6)
    # parameters stay recorded: fewer than the parameter budget, as the positions cost bytes too
    assert record["params_budget"] == 795010 // 16 and record["params_stored"] < record["params_budget"]
    assert record["params_stored"] - 1010 == sum(record["fit_notes"]["pruning"]["kept_per_layer"])
    # the last cut kept more than planned: the actual encoding is smaller than its bound
    assert record["params_stored"] > record["params_budget_fitted"]
    data = call_target(cfg.dataset)
    reloaded = load_compressed(tmp_path / "run" / "model.pt")
    assert error_rate(reloaded, data.test_x, data.test_y) == record["test_error"]


def test_dark_knowledge_teacher_is_trained_once_and_reused(tmp_path):
    first = run_in(config(tmp_path, "method=dk"), tmp_path / "a")
    second = run_in(config(tmp_path, "method=hashednets_dk"), tmp_path / "b")
    other_seed = run_in(config(tmp_path, "method=dk", "seed=2"), tmp_path / "c")
    again = run_in(config(tmp_path, "method=dk"), tmp_path / "d")
    t1, t2, t3, t4 = (r["fit_notes"]["teacher"] for r in (first, second, other_seed, again))
    assert (t1["reused"], t2["reused"], t3["reused"], t4["reused"]) == (False, True, False, True)
    # a cached teacher changes nothing in the student's run (same random stream, same teacher)
    assert (again["history"][0]["train_loss"], again["test_error"]) == (first["history"][0]["train_loss"],
                                                                        first["test_error"])
    assert t1["cache_file"] == t2["cache_file"] != t3["cache_file"]
    assert Path(t1["cache_file"]).parent == tmp_path / "teachers"
    assert t1["val_error"] == t2["val_error"]
    assert sorted(p.name for p in (tmp_path / "teachers").iterdir()) == sorted(
        Path(t["cache_file"]).name for t in (t1, t3))  # no temporary files left behind
