"""A population sized to memory (bench/machine/memory.py, tasks/population.py): each member counted as its
dense model training, a population that does not fit split."""
import torch
from torch import nn

from bench.machine.memory import BYTES_PER_PARAM, population_memory, training_bytes
from conftest import result_records, run_main


def test_a_members_bytes_are_its_weights_three_times_and_every_layers_output_twice():
    with torch.device("meta"):
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    params = 784 * 100 + 100 + 100 * 10 + 10
    outputs = 50 * (784 + 100 + 100 + 10)  # Flatten, Linear, ReLU, Linear for a batch of 50
    assert training_bytes(model, (50, 1, 28, 28)) == BYTES_PER_PARAM * (3 * params + 2 * outputs)
    assert not any(module._forward_hooks for module in model.modules())  # the counting hooks are removed


def test_the_memory_a_population_plans_for(monkeypatch):
    assert population_memory(torch.device("cpu"), memory_gb=0.5) == 2**29
    monkeypatch.setattr("bench.machine.memory.available_bytes", lambda device: 8_000)
    assert population_memory(torch.device("cpu"), processes=2) == 3_000  # 3/4 of the free memory, shared by 2
    monkeypatch.setattr("bench.machine.memory.available_bytes", lambda device: None)
    assert population_memory(torch.device("cpu")) is None


def test_a_population_larger_than_its_memory_is_split(tmp_path):
    # nn's dense mlp3 of 32 hidden units at batch 50: 4 x (3 x 25,450 + 2 x 50 x 858) = 648,600 bytes a member;
    # 0.0013 GiB (1,395,864 bytes) holds two
    run_main("-m", "method=nn", "ratio=1/8", "seed=1,2,3,4", "dataset=mnist5k_tiny", "model.hidden=[32]",
             "train.epochs=1", "logger=none", "hydra/launcher=population", "hydra.launcher.n_jobs=1",
             "population.memory_gb=0.0013", output_root=tmp_path)
    records = result_records(tmp_path)
    assert sorted(r["seed"] for r in records) == [1, 2, 3, 4] and all(r["status"] == "complete" for r in records)
    assert all(r["population"]["size"] == 2 for r in records)
    assert len({r["population"]["group"] for r in records}) == 2


def test_a_bad_memory_setting_is_one_error_line(tmp_path):
    done = run_main("-m", "dataset=mnist5k_tiny", "seed=1,2", "logger=none", "hydra/launcher=population",
                    "population.memory_gb=-1", output_root=tmp_path, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: population.memory_gb=-1 must be a number > 0 or null")
