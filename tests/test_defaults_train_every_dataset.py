"""The default recipe trains on every data set: a tiny variant of each, every method's defaults,
a few epochs, and the training loss ends clearly below a uniform guess's, ln(classes).

Before the recipe centred its inputs (datasets/centering.py), digits over noise or photographs
(`bg_rand`, `bg_img_rot`) stayed near ln 10 for ten epochs on mnist5k.
"""
import math

import pytest

from bench.components import call_target
from datasets.centering import center_inputs
from test_methods import config, train

TINY = ["dataset.train_size=300", "dataset.val_size=100", "dataset.test_size=100"]
DATASETS = {  # name -> overrides giving its tiny variant
    "mnist5k_tiny": [],
    **{name: [*TINY, "dataset.base=mnist5k"] for name in ("basic", "rot", "bg_rand", "bg_img", "bg_img_rot")},
    "rect": TINY, "convex": TINY,
}
METHODS = ["dense", "nn", "hashednets", "hashednets_dk", "dk", "lowrank", "rer", "pruning", "sketch"]
EPOCHS = 4
CLEARLY_BELOW = 0.75  # the last epoch's training loss below this fraction of ln(classes)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")  # each generated tiny set is made once for the module


@pytest.fixture(scope="module")
def tiny_sets(data_root):
    loaded = {}

    def load(name):
        if name not in loaded:
            loaded[name] = call_target(config(data_root, f"dataset={name}", f"data_root={data_root}",
                                              *DATASETS[name]).dataset)
        return loaded[name]
    return load


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dataset", DATASETS)
def test_default_recipe_trains_every_method_on_every_data_set(tmp_path, data_root, tiny_sets, dataset, method):
    ratio = "1" if method == "dense" else "1/8"
    cfg = config(tmp_path, f"dataset={dataset}", f"data_root={data_root}", *DATASETS[dataset], f"method={method}",
                 f"ratio={ratio}", f"train.epochs={EPOCHS}")
    data = tiny_sets(dataset)
    assert cfg.train.center_inputs  # the default recipe, as tasks/compress.py applies it
    fit = train(cfg, center_inputs(data))[-1]
    last = fit.history[-1]["train_loss"]  # pruning: the end of its last retraining phase
    assert last < CLEARLY_BELOW * math.log(data.num_classes), [e["train_loss"] for e in fit.history]
