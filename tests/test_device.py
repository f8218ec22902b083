"""`device=`: checked before a run starts, used by everything that computes, and recorded."""
import pytest
import torch

from bench.components import call_target
from bench.machine.device import resolve_device
from bench.errors import UserError
from bench.training.evaluate import error_rate, predictions
from bench.compression.checkpoint import export_compressed, load_compressed
from conftest import result_records, run_main
from test_methods import config, run_in, train

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")


def test_auto_is_cuda_where_present_else_the_cpu():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("value", ["gpu", "CUDA", "cuda:x", "cuda:-1", 0])
def test_an_unknown_device_is_refused_naming_what_is_allowed(value):
    with pytest.raises(UserError, match=r"is unknown; allowed: auto, cpu, cuda, cuda:N"):
        resolve_device(value)


def test_an_absent_gpu_is_refused_naming_those_present():
    absent = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(UserError, match=rf"device='{absent}': no such CUDA device here \(present: "):
        resolve_device(absent)


@pytest.mark.parametrize("value, expected", [
    ("gpu", "device='gpu' is unknown; allowed: auto, cpu, cuda, cuda:N"),
    pytest.param("cuda", "device='cuda': no such CUDA device here (present: none)", marks=NO_GPU),
    ("cuda:7", "device='cuda:7': no such CUDA device here (present: "),
])
def test_main_ends_a_bad_device_with_one_error_line_before_claiming_a_run(tmp_path, tiny_run_args, value, expected):
    done = run_main(*tiny_run_args, f"device={value}", output_root=tmp_path, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {expected}")
    assert result_records(tmp_path) == []  # refused before its run directory was claimed


@pytest.mark.parametrize("method", ["hashednets", "pruning", "rer", "lowrank", "sketch", "nn", "dk"])
def test_a_run_on_the_device_records_it_and_its_checkpoint_loads_on_the_cpu(tmp_path, device, method):
    cfg = config(tmp_path, f"method={method}", "ratio=1/16", f"device={device}")
    record = run_in(cfg, tmp_path / "run")
    assert record["status"] == "complete" and record["data_on_device"]
    assert record["device"]["device"] == str(resolve_device(device)) and record["device"]["name"]
    assert record["determinism"]["deterministic_algorithms"] and record["determinism"]["warn_only"]
    if device == "cuda":
        assert record["device"]["cuda"] == torch.version.cuda
        assert record["determinism"]["cublas_workspace_config"] == ":4096:8"
        assert record["determinism"]["cudnn_deterministic"] and not record["determinism"]["cudnn_benchmark"]
    else:
        assert record["device"]["threads"] == torch.get_num_threads()
    data = call_target(cfg.dataset)
    assert error_rate(load_compressed(tmp_path / "run" / "model.pt", device), data.test_x, data.test_y) == \
        record["test_error"]
    on_cpu = error_rate(load_compressed(tmp_path / "run" / "model.pt"), data.test_x, data.test_y)
    assert abs(on_cpu - record["test_error"]) <= 0.02  # a GPU's sums may round apart on a borderline example


def test_a_checkpoint_of_a_model_moved_to_another_dtype_and_device_reloads_on_the_cpu(tmp_path, device):
    cfg = config(tmp_path, "method=rer", "ratio=1/16")
    data, factory, method, budget, model, _ = train(cfg)
    model.to(device=device, dtype=torch.float64)
    export_compressed(tmp_path / "model.pt", method, cfg.method, factory, budget, cfg.seed, model)
    state = torch.load(tmp_path / "model.pt", weights_only=True)["state"]  # no map_location: as saved
    assert {tensor.device.type for tensor in state.values()} == {"cpu"}
    reloaded = load_compressed(tmp_path / "model.pt")
    assert {p.dtype for p in reloaded.parameters()} == {torch.float32}
    assert torch.equal(predictions(reloaded, data.test_x), predictions(model, data.test_x.double()).cpu())
