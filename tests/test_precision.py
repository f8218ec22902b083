"""`precision` (bench/machine/precision.py): set for the process, part of the identity except at its default, recorded."""
import torch

from bench.machine.precision import compute_context, set_precision
from bench.run.identity import config_hash
from conftest import compose_config, result_records, run_main


def test_fp32_turns_tensorfloat32_off_and_tf32_on():
    try:
        assert set_precision("tf32")["tf32_cudnn"] and torch.backends.cudnn.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32
        record = set_precision("fp32")
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert record == {"precision": "fp32", "tf32_matmul": False, "tf32_cudnn": False, "autocast": None}
    finally:
        set_precision("fp32")


def test_bf16_autocasts_the_forward_products():
    layer = torch.nn.Linear(4, 3)
    try:
        set_precision("bf16")
        with compute_context(torch.device("cpu")):
            assert layer(torch.ones(2, 4)).dtype == torch.bfloat16
    finally:
        set_precision("fp32")
    with compute_context(torch.device("cpu")):
        assert layer(torch.ones(2, 4)).dtype == torch.float32


def test_the_default_precision_keeps_earlier_identities_and_another_is_a_new_experiment():
    default, explicit, bf16 = (config_hash(compose_config(*o)) for o in ([], ["precision=fp32"], ["precision=bf16"]))
    assert default == explicit != bf16


def test_a_run_records_its_precision_and_a_bad_one_is_one_error_line(tmp_path, tiny_run_args):
    run_main(*tiny_run_args, "train.epochs=1", "precision=bf16", output_root=tmp_path)
    (record,) = result_records(tmp_path)
    assert record["status"] == "complete" and record["precision"]["autocast"] == "bfloat16"
    done = run_main(*tiny_run_args, "precision=fp16", output_root=tmp_path, check=False)
    assert done.returncode == 2 and done.stderr.strip() == "error: precision='fp16' must be one of fp32, tf32, bf16"
