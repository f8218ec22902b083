"""Populations (bench/training/population_trainer.py, layers/stacked.py): every member trains as its own single run would.

The equivalence is checked in float64, where the stacked kernels' other summation order changes
results only in the last bits: per epoch, each member's training loss equals its single run's to
1e-9 (relative) and its validation error exactly; so do its best epoch and restored weights. Dropout
is off here: a member's dropout masks come from its own stream, not the single run's global one.
"""
import dataclasses

import pytest
import torch

from bench.components import call_target
import layers.stacked
from bench.run.settings import RunSettings
from bench.training.hparams import with_hparams
from bench.training.population_trainer import PopulationTrainer
from bench.training.trainer import FitResult, Trainer, TrainingDiverged
from conftest import compose_config
from methods.population_fit import fit_population
from tasks.compress import build_model

METHODS = ["dense", "hashednets", "hashednets_dk", "lowrank", "rer", "nn", "dk", "pruning", "sketch"]
MEMBERS = [(1, 0.1), (2, 0.05), (3, 0.02)]  # (seed, learning rate)
LOSS_TOLERANCE = 1e-9


@pytest.fixture
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.set_flush_denormal(True)  # as runs do (flush_denormal: true); denormals make float64 steps 10x slower
    yield
    torch.set_flush_denormal(False)
    torch.set_default_dtype(previous)


@pytest.fixture(scope="module")
def tiny_data():
    data = call_target(compose_config("dataset=mnist5k_tiny").dataset)
    return dataclasses.replace(data, **{name: getattr(data, name).double() for name in ("train_x", "val_x", "test_x")})


@pytest.fixture(scope="module")
def configs():
    """Composed once per method (composing takes half a second): a member's config is a copy with its seed and lr."""
    cache = {}

    def config(method: str, output_root, *overrides: str):
        key = (method, overrides)
        if key not in cache:
            ratio = [] if method == "dense" else ["ratio=1/8"]
            pruning = ["method.retrain_epochs=2"] if method == "pruning" else []
            model = ["model.hidden=[64]"] if not any(o.startswith("model=") for o in overrides) else []
            cache[key] = compose_config(f"method={method}", *ratio, *pruning, *model, "train.epochs=2",
                                        "train.dropout_input=0", "train.dropout_hidden=0", *overrides)
        cfg = cache[key].copy()
        cfg.output_root = str(output_root)
        return cfg

    return config


def member(configs, method: str, seed: int, lr: float, output_root, data, *overrides: str):
    """(method, float64 model, trainer) of the run `method=METHOD seed=SEED train.lr=LR` (an mlp3 of 64 hidden
    units), built as tasks/compress.py builds it."""
    cfg = configs(method, output_root, *overrides)
    cfg.seed, cfg.train.lr = seed, lr
    torch.manual_seed(seed)
    train_cfg, method_cfg = with_hparams(cfg)
    _, built, _, model = build_model(cfg, RunSettings.from_config(cfg), train_cfg, method_cfg, data)
    return built, model.double(), Trainer.from_config(train_cfg, seed, on_epoch=lambda metrics: None)


def single_run(built, model, trainer, data):
    try:
        return built.fit(model, trainer, data)
    except TrainingDiverged as diverged:
        return diverged


# Conv layers (every stacked type) and batch norm, narrow and on a third of the data: float64 convolutions are slow
CONV_CASES = [(method, "model=lenet5 +model.width=0.5") for method in ("dense", "hashednets", "lowrank", "rer", "sketch")]
CONV_CASES += [("dense", "model=resnet20 model.depth=8 +model.width=0.25")]


@pytest.mark.parametrize("method,model", [(method, "") for method in METHODS] + CONV_CASES)
def test_each_member_follows_its_single_run(method, model, tmp_path, tiny_data, configs, float64):
    overrides = model.split()
    if overrides:
        tiny_data = dataclasses.replace(tiny_data, train_x=tiny_data.train_x[:100], train_y=tiny_data.train_y[:100])
    singles = [member(configs, method, seed, lr, tmp_path, tiny_data, *overrides) for seed, lr in MEMBERS]
    expected = [single_run(*run, tiny_data) for run in singles]
    members = [member(configs, method, seed, lr, tmp_path, tiny_data, *overrides) for seed, lr in MEMBERS]
    population = PopulationTrainer([trainer for _, _, trainer in members], layers.stacked)
    outcomes = fit_population([m for m, _, _ in members], [model for _, model, _ in members], population, tiny_data)
    for (_, single_model, _), want, (_, model, _), got in zip(singles, expected, members, outcomes):
        assert type(got) is type(want) is FitResult
        assert [(h["phase"], h["epoch"], h["val_error"]) for h in got.history] == \
               [(h["phase"], h["epoch"], h["val_error"]) for h in want.history]
        assert [h["train_loss"] for h in got.history] == pytest.approx([h["train_loss"] for h in want.history],
                                                                       rel=LOSS_TOLERANCE)
        assert (got.best_epoch, got.best_val_error, got.epochs_run) == (want.best_epoch, want.best_val_error,
                                                                        want.epochs_run)
        for key, value in single_model.state_dict().items():  # the best epoch's weights, restored
            assert torch.allclose(model.state_dict()[key], value, rtol=1e-7, atol=1e-12), key
    assert len({h["train_loss"] for got in outcomes for h in got.history[:1]}) == len(MEMBERS)  # members differ


def test_a_diverged_member_is_recorded_as_its_single_run_and_the_others_go_on(tmp_path, tiny_data, configs, float64):
    specs = [(1, 0.1), (2, 500.0), (3, 0.05)]  # lr 500: diverges in its first epoch
    expected = [single_run(*member(configs, "dense", seed, lr, tmp_path, tiny_data), tiny_data) for seed, lr in specs]
    members = [member(configs, "dense", seed, lr, tmp_path, tiny_data) for seed, lr in specs]
    outcomes = PopulationTrainer([t for _, _, t in members], layers.stacked).fit([m for _, m, _ in members], tiny_data)
    assert isinstance(expected[1], TrainingDiverged) and isinstance(outcomes[1], TrainingDiverged)
    got, want = outcomes[1].as_record(), expected[1].as_record()
    assert (got["phase"], got["epoch"], got["reason"], got["lr"]) == (want["phase"], want["epoch"], want["reason"],
                                                                      want["lr"])
    assert got["last_finite_loss"] == pytest.approx(want["last_finite_loss"], rel=LOSS_TOLERANCE)
    for i in (0, 2):
        assert [h["val_error"] for h in outcomes[i].history] == [h["val_error"] for h in expected[i].history]


def test_a_member_stops_at_its_own_patience(tmp_path, tiny_data, configs, float64):
    """A member with patience 1 and a learning rate too small to improve stops after two epochs, as its
    single run does; its partner trains its whole budget."""
    specs = [(1, 0.1, 5), (2, 1e-7, 1)]  # (seed, lr, patience)
    runs = [member(configs, "dense", seed, lr, tmp_path, tiny_data, f"train.patience={patience}", "train.epochs=4")
            for seed, lr, patience in specs]
    expected = [single_run(*run, tiny_data) for run in runs]
    runs = [member(configs, "dense", seed, lr, tmp_path, tiny_data, f"train.patience={patience}", "train.epochs=4")
            for seed, lr, patience in specs]
    outcomes = PopulationTrainer([t for _, _, t in runs], layers.stacked).fit([m for _, m, _ in runs], tiny_data)
    assert [o.epochs_run for o in outcomes] == [e.epochs_run for e in expected]
    assert outcomes[1].epochs_run < outcomes[0].epochs_run == 4


def test_dropout_masks_are_each_members_own_and_reproducible(tmp_path, tiny_data, configs, float64):
    def train(seeds):
        runs = [member(configs, "dense", seed, 0.1, tmp_path, tiny_data, "train.dropout_hidden=0.5") for seed in seeds]
        outcomes = PopulationTrainer([t for _, _, t in runs], layers.stacked).fit([m for _, m, _ in runs], tiny_data)
        return [o.history[-1]["train_loss"] for o in outcomes]

    both = train([1, 2])
    assert train([1, 2]) == both  # the same seeds, the same result
    assert train([2]) == pytest.approx(both[1:], rel=LOSS_TOLERANCE)  # a member's stream is its own, whatever its partners


@pytest.mark.parametrize("method,model,learns", [("hashednets", "", True), ("rer", "", True),
                                                 ("rer", "model=lenet5 +model.width=0.5", False)])
def test_a_population_trains_and_repeats_itself_on_each_device(method, model, learns, device, tmp_path, configs):
    """On the CPU and on CUDA (`-m gpu`, at precision fp32): every MLP member learns in 2 epochs (a LeNet-5 needs
    more steps than 12), and the same population trained again gives the same numbers (on CUDA: data order and
    dropout from device generators)."""
    data = call_target(compose_config("dataset=mnist5k_tiny").dataset)

    def train():
        runs = [member(configs, method, seed, 0.1, tmp_path, data, *model.split(), "train.dropout_hidden=0.25")
                for seed in (1, 2, 3)]
        models = [m.float().to(device) for _, m, _ in runs]
        return PopulationTrainer([t for _, _, t in runs], layers.stacked).fit(models, data)

    first = train()
    assert all(isinstance(o, FitResult) and (o.best_val_error < 0.85 or not learns) for o in first)
    again = train()
    assert [[h["train_loss"] for h in o.history] for o in again] == [[h["train_loss"] for h in o.history] for o in first]
