"""The engine's contracts, each pinned by a test that fails when it breaks: the layering (bench/ imports no
component, main.py no task), the method contract checked when a method is loaded, tasks found through their
config nodes (start hook, report section), the typed run record and the one content digest."""
import ast
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from bench.components import CONF_DIR
from bench.compression.method import HOOKS, load_method
from bench.errors import UserError
from bench.run.identity import config_hash
from bench.run.record import COMPRESS_FIELDS, SCHEMA_VERSION, record_problem, write_result
from bench.run.task import start_record
from bench.storage.digest import json_digest
from bench.storage.state_files import read_json_object
from conftest import REPO, compose_config
from reports.theory import task_sections

COMPONENTS = ("methods", "models", "datasets", "tasks", "reports", "layers", "hydra_plugins", "tools")


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((REPO / "bench").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_the_engine_imports_no_component(path):
    assert not imported_packages(path) & set(COMPONENTS)


def test_main_imports_no_task():
    assert "tasks" not in imported_packages(REPO / "main.py")


class NoExport:
    """Has every hook of the contract but `export_state` and `load_state`."""

    def __init__(self, **options):
        pass

    def build(self, factory, budget, seed):
        return torch.nn.Linear(1, 1)

    fit = stored_params = build_for_sizing = planned_bytes = keep_within_bytes = build


def test_a_method_lacking_a_hook_of_the_contract_is_refused_in_one_line():
    node = OmegaConf.create({"_target_": f"{__name__}.NoExport", "name": "noexport"})
    with pytest.raises(UserError, match=r"^method=noexport: .*NoExport is not a compression method: it lacks "
                                        r"export_state, load_state \(bench/compression/method.py"):
        load_method(node)


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF_DIR / "method").glob("*.yaml")))
def test_every_shipped_method_keeps_the_contract(name):
    method = load_method(compose_config(f"method={name}").method)
    assert all(callable(getattr(method, hook)) for hook in HOOKS) and len(HOOKS) == 8


def test_a_task_without_a_start_hook_starts_with_its_name_and_seed():
    cfg = compose_config("experiment=etf_quick", "seed=4")
    assert "start" not in cfg.task and start_record(cfg) == {"task": "etf", "seed": 4}


def test_the_benchmark_task_starts_with_its_cell():
    cfg = compose_config("method=lowrank", "ratio=0.125", "dataset=mnist5k_tiny")
    record = start_record(cfg)
    assert (record["task"], record["method"], record["ratio"], record["compression_factor"]) == ("compress", "lowrank",
                                                                                                  "1/8", 8.0)


def test_report_sections_come_from_the_task_nodes():
    declared = {node.name: node.report_section for node in map(OmegaConf.load, (CONF_DIR / "task").glob("*.yaml"))
                if "report_section" in node}
    sections = task_sections()
    assert set(sections) == set(declared) == {"etf", "sketch_manifold", "hashed_recovery"}
    assert all(f"{fn.__module__}.{fn.__name__}" == declared[task] for task, fn in sections.items())


def test_a_record_is_written_with_its_schema_version_and_a_wrong_type_is_refused(tmp_path):
    write_result(tmp_path, {"task": "etf", "status": "complete", "seed": 1})
    assert read_json_object(tmp_path / "result.json")["schema_version"] == SCHEMA_VERSION
    with pytest.raises(ValueError, match="'val_error' is '0.1'; expected a number"):
        write_result(tmp_path, {"status": "complete", "val_error": "0.1"})
    with pytest.raises(ValueError, match="'status' is 'done'; expected one of running, complete"):
        write_result(tmp_path, {"status": "done"})


def test_a_report_needs_a_complete_run_s_test_error_in_range():
    record = {"status": "complete", "method": "nn", "ratio": "1/8", "dataset": "mnist", "model": "mlp3", "seed": 1,
              "compression_factor": 8.0}
    assert record_problem(record) == "no 'test_error' field"
    assert record_problem({**record, "test_error": 0.1}) is None
    assert "expected a finite number in [0, 1]" in record_problem({**record, "test_error": math.nan})
    assert record_problem({**record, "evaluate_test": False}) is None  # a tuning trial never has one
    assert set(COMPRESS_FIELDS) >= {"test_error", "val_error", "params_stored", "bytes_on_disk", "checkpoint_sha256"}


def test_names_on_disk_keep_their_digests():
    # a run's directory from before the digest helper existed (the default run, `logger=none`), and json's
    # default separators for the other names: launching again must find what is already there
    assert config_hash(compose_config("logger=none")) == "cf04c7d01345ac1e"
    assert json_digest({"b": 1, "a": [1, 2]}, 12) == "3813f9409eb0"  # = sha256(json.dumps(obj, sort_keys=True))[:12]
    assert json_digest({"b": 1, "a": [1, 2]}, 16, compact=True) != json_digest({"b": 1, "a": [1, 2]}, 16)
