import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from bench.components import call_target
from bench.machine.precision import set_precision

set_precision("fp32")  # every test computes as a default run does, TensorFloat-32 off (the GPU tests' precision too)

REPO = Path(__file__).resolve().parents[1]

# The devices a behaviour test runs on: the CPU, and CUDA where a GPU is present (`pytest -m gpu`
# selects only those; without a GPU they are skipped, and the GPU paths go untested).
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device")])]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


def run_main(*overrides: str, output_root: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run `python main.py OVERRIDES` in a fresh process (Hydra keeps global state)."""
    env = {**os.environ, "WANDB_SILENT": "true", "WANDB_MODE": "offline"}
    done = subprocess.run([sys.executable, "main.py", *overrides, f"output_root={output_root}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"main.py failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def result_records(output_root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(output_root).rglob("result.json"))]


def compose_config(*overrides: str):
    """The run config `main.py OVERRIDES` would get (composed by Hydra, not run)."""
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def method_node(name: str, *overrides: str):
    """The resolved `method` node of `method=NAME` (interpolations such as `${train}` filled in)."""
    cfg = compose_config(f"method={name}", *overrides)
    return OmegaConf.create(OmegaConf.to_container(cfg.method, resolve=True))


def load_method(name: str):
    return call_target(method_node(name))


@pytest.fixture
def tiny_run_args():
    """Overrides for a run of a few seconds on real digits."""
    return ["dataset=mnist5k_tiny", "train.epochs=3", "logger=none"]


def model_factory(name: str = "mlp3", input_shape=(1, 28, 28), num_classes: int = 10, *overrides: str):
    """The dense model `model=NAME` for inputs of `input_shape`, under the default recipe."""
    from bench.compression.model_factory import ModelFactory

    cfg = compose_config(f"model={name}", *overrides)
    return ModelFactory.from_config(cfg, cfg.train, input_shape, num_classes)
