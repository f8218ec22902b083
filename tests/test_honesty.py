"""The behaviours the harness's honesty rests on, each pinned where a wrong version differs by a lot:
the budget's floor, the best validation epoch's weights, per-seed masks and hashes, the teacher's
temperature, the hashed layer's scale, and a tuning trial never reading the test set."""
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

import methods.distillation
import tasks.compress
from bench.run.settings import parse_ratio
from bench.compression.budget import Budget, bytes_budget
from bench.training.evaluate import error_rate
from bench.run.identity import config_hash
from bench.training.trainer import FitResult, Trainer
from conftest import compose_config, load_method, method_node, model_factory
from datasets.splits import DataSplits
from layers.count_sketch import CountSketch
from layers.hashed_linear import HashedLayer, HashedLinear
from layers.hashing import bucket_and_sign
from layers.masked import masked_layers
from methods.distillation import Distillation

SMALL_MLP = model_factory("mlp3", (1, 8, 8), 10, "model.hidden=[50]")


# The budget: floor(ratio * reference), never rounded up

@pytest.mark.parametrize("ratio", ["2/3", "3/7", "0.35"])  # 0.35 * 795,010 ends in .5: round-half-even goes up
def test_params_budget_is_the_floor_of_ratio_times_params_ref(ratio):
    mlp3, exact = model_factory("mlp3"), parse_ratio(ratio)
    params_ref = mlp3.params_ref()
    floor = exact.numerator * params_ref // exact.denominator
    assert round(exact * params_ref) != floor  # a ratio where rounding would give one more
    budget = Budget.plan("params", exact, load_method("hashednets"), method_node("hashednets"), mlp3, seed=1)
    assert budget.params_budget == budget.build_params == floor


def test_bytes_budget_is_the_floor_of_ratio_times_dense_bytes():
    ratio, dense_bytes = Fraction(2, 3), 3_180_640
    floor = 2 * dense_bytes // 3
    assert round(ratio * dense_bytes) != floor
    assert bytes_budget(ratio, dense_bytes) == floor


# The trainer: the weights it returns are the best validation epoch's

def two_clusters(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two well-separated 2-D clusters as (n, 1, 1, 2) images, labels 0 and 1."""
    y = torch.arange(n) % 2
    x = 3.0 * (2 * y - 1)[:, None] + torch.randn(n, 2, generator=generator)
    return x.view(n, 1, 1, 2), y


def test_trainer_leaves_the_best_validation_epochs_weights_in_the_model():
    generator = torch.Generator().manual_seed(0)
    (train_x, train_y), (val_x, val_y) = two_clusters(200, generator), two_clusters(100, generator)
    data = DataSplits("clusters", train_x, train_y, val_x, val_y, val_x, val_y, num_classes=2)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    epochs_done = []
    # epoch 1 learns the labels; later epochs are taught the opposite ones, so the last epoch is the worst
    def loss_fn(logits, labels, batch_index, inputs):
        return F.cross_entropy(logits, 1 - labels if epochs_done else labels)
    trainer = Trainer(epochs=4, batch_size=20, lr=0.1, momentum=0.9, lr_decay=1.0, weight_decay=0.0, patience=10,
                      seed=0, divergence_factor=1e6,  # unlearning raises the loss on purpose: not a divergence here
                      on_epoch=epochs_done.append)
    fit = trainer.fit(model, data, loss_fn=loss_fn)
    val_errors = [metrics["val_error"] for metrics in fit.history]
    assert len(val_errors) == 4 and val_errors[-1] > min(val_errors) + 0.5  # the last epoch is far from the best
    assert (fit.best_epoch, fit.best_val_error) == (1 + val_errors.index(min(val_errors)), min(val_errors))
    assert error_rate(model, data.val_x, data.val_y) == fit.best_val_error  # the weights, not only the bookkeeping


# Masks and hashes: drawn from the seed, the same for the same seed and different for another

def kept_positions(model: nn.Module) -> list[torch.Tensor]:
    """rer: the kept weights of each layer, by flat position."""
    return [layer.mask.flatten().nonzero().flatten() for layer in masked_layers(model).values()]


def hashed_choices(model: nn.Module) -> list[torch.Tensor]:
    """hashednets: each layer's (position, signed bucket) pairs, one integer each."""
    layers = [m for m in model.modules() if isinstance(m, HashedLayer)]
    return [torch.arange(len(codes)) * 2 * layer.num_buckets + codes.long()
            for layer, codes in ((layer, layer.signed_codes()) for layer in layers)]


def sketch_choices(model: nn.Module) -> list[torch.Tensor]:
    """sketch: each count-sketch's (input column, signed row) pairs, one integer each."""
    sketches = [m for m in model.modules() if isinstance(m, CountSketch)]
    return [torch.arange(s.in_features) * 2 * s.sketch_size + 2 * s.rows + (s.signs < 0) for s in sketches]


@pytest.mark.parametrize("name, choices", [("rer", kept_positions), ("hashednets", hashed_choices),
                                           ("sketch", sketch_choices)])
def test_masks_and_hashes_are_the_same_for_a_seed_and_differ_between_seeds(name, choices):
    method, budget = load_method(name), SMALL_MLP.params_ref() // 4
    # the two seed-1 builds see different global random states: only the seed may decide
    first, again, other = (choices(method.build(SMALL_MLP, budget, seed)) for seed in (1, 1, 2))
    assert len(first) == 2
    for a, b, c in zip(first, again, other):
        assert torch.equal(a, b)
        # chance level: about the kept fraction (1/4) for masks, 1 / (2 * buckets) for hashes
        assert torch.isin(c, a).float().mean() < 0.5


# Dark knowledge: the soft targets are softmax(teacher logits / T)

class CapturingTrainer:
    """Stands in for the student's trainer: keeps the loss function the method trains with."""
    seed, on_epoch = 1, staticmethod(lambda metrics: None)

    def fit(self, model, data, loss_fn):
        self.loss_fn = loss_fn
        return FitResult(best_epoch=1, best_val_error=0.0, epochs_run=1, seconds=0.0)


@pytest.mark.parametrize("augment", [None, lambda x, generator: x], ids=["fixed_inputs", "augmented_inputs"])
def test_dark_knowledge_soft_targets_are_the_teachers_outputs_softened_by_the_temperature(monkeypatch, augment):
    T, w = 4.0, 0.9
    torch.manual_seed(0)
    teacher = nn.Linear(5, 10)
    with torch.no_grad():
        teacher.weight.mul_(20)  # logits spread far beyond T, where softmax(z) and softmax(z / T) differ by much
    monkeypatch.setattr(methods.distillation, "cached_teacher", lambda *args: (teacher, {}))
    recipe = OmegaConf.to_container(compose_config().train)
    method = Distillation({"_target_": "methods.equivalent_dense.EquivalentDense"}, recipe, temperature=T,
                          soft_weight=w)
    x, y = torch.randn(30, 5), torch.arange(30) % 10
    data = DataSplits("random", x, y, x, y, x, y, num_classes=10, augment=augment)
    trainer = CapturingTrainer()
    method.fit(nn.Linear(5, 10), trainer, data)

    batch = torch.tensor([3, 0, 7, 12])
    inputs, labels = x[batch], y[batch]
    student = (3 * torch.randn(4, 10)).requires_grad_()
    loss = trainer.loss_fn(student, labels, batch, inputs)
    (grad,) = torch.autograd.grad(loss, student)
    with torch.no_grad():
        soft_targets = F.softmax(teacher(inputs) / T, dim=1)
        student_soft = F.softmax(student / T, dim=1)
        kl = (soft_targets * (soft_targets.log() - student_soft.log())).sum(1).mean()
        assert torch.allclose(loss, (1 - w) * F.cross_entropy(student, labels) + w * T * kl, rtol=1e-5)
        # the documented gradient: soft_weight * (softmax(student / T) - soft targets) beside the hard term's
        hard = F.softmax(student, dim=1) - F.one_hot(labels, 10)
        assert torch.allclose(grad, ((1 - w) * hard + w * (student_soft - soft_targets)) / len(batch), atol=1e-6)


# The hashed layer: y = x V^T (+ b), V[i, j] = sign * load^(-1/4) * bucket, load = virtual weights per bucket

@pytest.mark.parametrize("impl", ["numba", "torch"])
@pytest.mark.parametrize("hash_bias", [True, False])
def test_hashed_linear_is_the_product_with_its_scaled_virtual_weights(hash_bias, impl):
    n_in, n_out, num_buckets, seed, salt = 30, 8, 12, 3, 5
    torch.manual_seed(0)
    layer = HashedLinear(n_in, n_out, num_buckets, seed, salt, hash_bias=hash_bias, impl=impl)
    hashed = n_out * (n_in + hash_bias)  # positions: the weights row-major, then the hashed biases
    scale = (hashed / num_buckets) ** -0.25
    bucket, sign = (torch.from_numpy(a) for a in bucket_and_sign(hashed, num_buckets, seed, salt))
    virtual = sign * scale * layer.buckets.detach()[bucket]
    weight = virtual[:n_out * n_in].view(n_out, n_in)
    bias = virtual[n_out * n_in:] if hash_bias else layer.bias.detach()  # a bias stored in full is not scaled
    x = torch.randn(4, n_in)
    assert torch.allclose(layer(x), x @ weight.T + bias, atol=1e-5)


# A tuning trial (evaluate_test=false) never reads the test set

class Unreadable:
    """Stands in for a test tensor: its length may be recorded, any other use is noted and fails."""

    def __init__(self, length: int, reads: list):
        self.length, self.reads = length, reads

    def __len__(self):
        return self.length

    def __getattr__(self, name):
        self.reads.append(name)
        raise AssertionError(f"the test set was read (.{name})")

    def __getitem__(self, key):
        self.reads.append("[]")
        raise AssertionError("the test set was read (indexed)")


def learnable_digits(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """8x8 images: a fixed prototype per class of 10, plus noise."""
    prototypes = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(n) % 10
    return (prototypes[y] + 0.3 * torch.randn(n, 1, 8, 8, generator=generator)).clamp(0, 1), y


@pytest.mark.parametrize("name", ["hashednets", "pruning", "dk"])  # a plain fit, prune/retrain, a teacher
def test_a_tuning_trial_never_reads_the_test_set(tmp_path, monkeypatch, name):
    generator, reads = torch.Generator().manual_seed(1), []
    (train_x, train_y), (val_x, val_y) = learnable_digits(200, generator), learnable_digits(100, generator)
    data = DataSplits("digits8", train_x, train_y, val_x, val_y, val_x, val_y, num_classes=10)
    data.test_x, data.test_y = Unreadable(100, reads), Unreadable(100, reads)
    monkeypatch.setattr(tasks.compress, "load_dataset", lambda node: data)
    cfg = compose_config(f"method={name}", "evaluate_test=false", "model.hidden=[50]", "ratio=1/4",
                         "train.epochs=2", "logger=none", "device=cpu", f"output_root={tmp_path}")
    record = tasks.compress.run(cfg, tmp_path / "run", {**tasks.compress.start(cfg), "config_hash": config_hash(cfg)})
    assert record["status"] == "complete" and record["test_error"] is None
    assert reads == []
