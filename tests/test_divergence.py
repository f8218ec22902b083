"""A diverged run is a status, never a number: stopped at once, recorded with why, never ranked."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from bench.storage.files import write_json_atomically
from bench.training.trainer import Trainer, TrainingDiverged
from conftest import result_records, run_main
from datasets.mnist5k import load_mnist5k
from reports.cells import leaderboard_cells
from reports.records import compress_records
from reports.tables import setup_tables
from test_leaderboard import record


def strict_json(text: str):
    """json.loads that refuses the bare NaN / Infinity Python's json module would accept."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"invalid JSON constant {name}"))


def trainer(**changes) -> Trainer:
    recipe = dict(epochs=4, batch_size=50, lr=0.1, momentum=0.9, lr_decay=0.95, weight_decay=0.0, patience=10,
                  seed=1)
    return Trainer(**{**recipe, **changes})


def softmax_regression() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))  # images are (N, 1, 28, 28)


@pytest.fixture(scope="module")
def tiny():
    return load_mnist5k(train_per_class=30, val_per_class=10, test_per_class=10)


def test_a_non_finite_loss_ends_the_run_at_once(tiny):
    model = softmax_regression()
    calls = []

    def loss_fn(logits, labels, batch_index, inputs):
        calls.append(1)
        loss = F.cross_entropy(logits, labels)
        return loss * math.nan if len(calls) == 9 else loss  # the 3rd batch of epoch 2 (6 batches an epoch)

    with pytest.raises(TrainingDiverged) as caught:
        trainer().fit(model, tiny, loss_fn=loss_fn)
    assert len(calls) == 9  # not one step more
    diverged = caught.value.as_record()
    assert diverged["epoch"] == 2 and diverged["phase"] == "train" and "nan" in diverged["reason"]
    assert math.isfinite(diverged["last_finite_loss"]) and diverged["lr"] == pytest.approx(0.1 * 0.95)
    assert len(caught.value.history) == 1  # the epochs that finished


def test_a_loss_exploding_past_the_factor_of_the_starting_loss_diverges(tiny):
    epoch_of_call = []

    def growing(logits, labels, batch_index, inputs):  # epoch k's loss is about 2.3 * 2**(k-1)
        epoch_of_call.append(1)
        return F.cross_entropy(logits, labels) * 2.0 ** ((len(epoch_of_call) - 1) // 6)

    with pytest.raises(TrainingDiverged, match=r"> 3 x 2.3\d+, the larger of the starting loss and ln\(classes\)") as caught:
        trainer(lr=0.0).fit(softmax_regression(), tiny, loss_fn=growing)
    assert caught.value.epoch == 3  # 4x the starting loss; 2x (epoch 2) is tolerated
    with pytest.raises(TrainingDiverged) as caught:
        trainer(lr=0.0, divergence_factor=5.0).fit(softmax_regression(), tiny, loss_fn=growing)
    assert caught.value.epoch == 4


def test_a_huge_learning_rate_is_recorded_diverged_in_valid_json(tmp_path, tiny_run_args):
    run_main("method=nn", "train.lr=100", *tiny_run_args, output_root=tmp_path)
    path = next(tmp_path.rglob("result.json"))
    record = strict_json(path.read_text())
    assert record["status"] == "diverged" and "test_error" not in record
    assert record["divergence"]["lr"] == 100 and record["divergence"]["epoch"] == 1
    assert not (path.parent / "model.pt").exists()  # nothing to evaluate or reuse
    again = run_main("method=nn", "train.lr=100", *tiny_run_args, output_root=tmp_path)
    assert "already diverged" in again.stdout + again.stderr  # a result: not trained again
    assert len(result_records(tmp_path)) == 1


def test_json_written_by_the_harness_has_no_bare_nan(tmp_path):
    write_json_atomically(tmp_path / "r.json", {"loss": math.nan, "history": [{"x": math.inf}, 1.5]})
    assert strict_json((tmp_path / "r.json").read_text()) == {"loss": None, "history": [{"x": None}, 1.5]}


def test_leaderboard_shows_diverged_cells_without_a_number_and_never_ranks_them():
    records = [record("hashednets", "1/8", 1, 0.01), record("hashednets", "1/8", 2, status="diverged"),
               record("hashednets", "1/8", 3, 0.02), *[record("nn", "1/8", s, 0.5) for s in (1, 2, 3)]]
    cells = leaderboard_cells(compress_records(records))
    hashed = cells[cells["method"] == "hashednets"].iloc[0]
    assert hashed["n_diverged"] == 1 and hashed["diverged_seeds"] == "2" and not hashed["complete"]
    assert math.isnan(hashed["rank"]) and math.isnan(hashed["test_error_mean_pct"])
    assert cells[cells["method"] == "nn"].iloc[0]["best"]  # 50 % error, but the only cell that trained
    table = setup_tables(cells, cells.iloc[:0].assign(method=[], ratio=[], test_error_pct=[]))
    assert "diverged (1 of 3 seeds)" in table and "1.50" not in table


def test_a_model_starting_far_better_than_chance_may_wobble_without_diverging(tiny):
    """A pruned net retrains from a loss near 0.001; a first epoch at 0.01 is not divergence."""
    calls = []

    def nearly_fitted(logits, labels, batch_index, inputs):
        calls.append(1)
        return F.cross_entropy(logits, labels) * (1e-4 if len(calls) == 1 else 4e-3)

    fit = trainer(lr=0.0, epochs=2).fit(softmax_regression(), tiny, loss_fn=nearly_fitted)
    assert fit.epochs_run == 2


def test_a_model_that_never_beats_a_constant_guess_is_diverged_when_early_stopping_gives_up(tiny):
    class Constant(torch.nn.Module):  # logits that ignore the input: at best the most frequent class
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(10))

        def forward(self, x):
            return self.bias.expand(len(x), 10)

    with pytest.raises(TrainingDiverged, match="no epoch beat a constant guess") as caught:
        trainer(lr=0.0, epochs=5, patience=2).fit(Constant(), tiny)
    assert caught.value.epoch == 3
    fit = trainer(lr=0.0, epochs=2, patience=2).fit(Constant(), tiny)  # the epoch budget ended it: no verdict
    assert fit.epochs_run == 2
