"""Sweeps: presets, launchers (joblib, submitit local) for real, resuming and never clobbering."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from bench.compression.budget import params_budget
from bench.run.settings import parse_ratio
from bench.compression.model_factory import ModelFactory
from bench.run.identity import config_hash, experiment_config
from bench.run.resume import ATTEMPTS_DIR, claim_run_dir, read_record
from reports import leaderboard

ROOT = Path(__file__).resolve().parents[1]
# Tiny, fast runs: the small data slice, two epochs, a narrow hidden layer.
TINY = ["logger=none", "dataset=mnist5k_tiny", "train.epochs=2", "model.hidden=[64]"]


# One torch thread per process: the tests start several at once on small machines.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_SILENT": "true"}


def main_py(*overrides, output_root: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "main.py", *overrides, f"output_root={output_root}"]
    done = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def records(output_root: Path) -> dict[str, dict]:
    """Run directory name -> its record."""
    return {p.parent.name: json.loads(p.read_text()) for p in (output_root / "runs").glob("*/result.json")}


def test_smoke_preset_multirun_with_the_parallel_launcher(tmp_path):
    tiny_with_wandb = [o for o in TINY if o != "logger=none"] + ["logger.mode=offline"]
    main_py("-m", "experiment=smoke", "method=dense,nn,hashednets", *tiny_with_wandb, "hydra/launcher=parallel",
            "hydra.launcher.n_jobs=2", output_root=tmp_path)
    found = records(tmp_path)
    assert sorted(r["method"] for r in found.values()) == ["dense", "hashednets", "nn"]
    for run_dir, rec in found.items():
        assert rec["status"] == "complete" and rec["task"] == "compress" and rec["epochs_run"] == 2
        assert rec["config_hash"] == run_dir  # each run in the directory of its own identity
        assert (tmp_path / "runs" / run_dir / "model.pt").is_file()
        assert "/multiruns/smoke_" in rec["launch_dir"]
    # one wandb run per job, all in the sweep's group
    wandb_runs = [r["loggers"]["wandb"] for r in found.values()]
    assert len({w["id"] for w in wandb_runs}) == 3
    assert {w["group"] for w in wandb_runs} == {f"method | {Path(rec['launch_dir']).parent.name}"}  # what it sweeps
    # the report of this sweep: the HTML page links figures that exist (beside their interactive charts)
    written = leaderboard.write_report(list(found.values()), tmp_path / "report", section_builders=[])
    page = written["html"].read_text()
    assert "mnist5k_tiny · mlp3 · 2 epochs" in page
    for figure in written["figures"].values():
        assert figure.is_file() and f'href="{figure.relative_to(tmp_path / "report").as_posix()}"' in page


def test_curve_preset_sweeps_its_seven_ratios(tmp_path):
    main_py("-m", "experiment=curve", "method=hashednets", *TINY, "train.epochs=1", output_root=tmp_path)
    found = records(tmp_path).values()
    assert sorted(r["compression_factor"] for r in found) == [1, 2, 4, 8, 16, 32, 64]
    assert all(r["status"] == "complete" for r in found)


def test_submitit_local_launcher(tmp_path):
    main_py("-m", "method=nn", *TINY, "hydra/launcher=slurm_local", output_root=tmp_path)
    (rec,) = records(tmp_path).values()
    assert rec["status"] == "complete" and rec["method"] == "nn"
    assert list(Path(rec["launch_dir"]).parent.glob(".submitit/*/*_log.out"))  # it went through submitit


def start_and_kill(*overrides, output_root: Path) -> dict:
    """Start a run, SIGKILL it once it has claimed its directory; return its record left behind."""
    process = subprocess.Popen([sys.executable, "main.py", *overrides, f"output_root={output_root}"], cwd=ROOT,
                               env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((output_root / "runs").glob("*/result.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    (path,) = (output_root / "runs").glob("*/result.json")
    return json.loads(path.read_text())


def test_resumed_sweep_skips_done_runs_and_redoes_a_killed_one(tmp_path):
    killed = start_and_kill("method=hashednets", *TINY, output_root=tmp_path / "o")
    assert killed["status"] == "running"  # the kill left it unfinished
    main_py("method=nn", *TINY, output_root=tmp_path / "o")
    nn_dir = next(d for d, r in records(tmp_path / "o").items() if r["method"] == "nn")
    nn_before = (tmp_path / "o" / "runs" / nn_dir / "result.json").read_text()

    sweep = main_py("-m", "method=nn,hashednets", *TINY, output_root=tmp_path / "o")
    assert "already complete" in sweep.stdout + sweep.stderr
    after = records(tmp_path / "o")
    assert len(after) == 2 and all(r["status"] == "complete" for r in after.values())
    assert (tmp_path / "o" / "runs" / nn_dir / "result.json").read_text() == nn_before  # skipped, untouched
    hashed_dir = tmp_path / "o" / "runs" / killed["config_hash"]
    assert read_record(hashed_dir / ATTEMPTS_DIR / "1")["started"] == killed["started"]  # kept, not clobbered

    main_py("method=nn", "rerun=true", *TINY, output_root=tmp_path / "o")  # forced: runs again
    nn_path = tmp_path / "o" / "runs" / nn_dir
    assert read_record(nn_path)["started"] != json.loads(nn_before)["started"]
    assert (nn_path / ATTEMPTS_DIR / "1" / "result.json").read_text() == nn_before
    assert (nn_path / ATTEMPTS_DIR / "1" / "model.pt").is_file()


def compose_config(*overrides, output_root="outputs"):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[*overrides, f"output_root={output_root}"])


def test_identity_ignores_paths_loggers_and_rerun_but_not_the_experiment():
    base = config_hash(compose_config("ratio=1/8"))
    assert config_hash(compose_config("ratio=0.125", "logger=none", "data_root=/elsewhere", "rerun=true",
                                      output_root="elsewhere/outputs")) == base
    assert config_hash(compose_config("ratio=1/8", "seed=2")) != base
    assert config_hash(compose_config("ratio=1/8", "train.epochs=3")) != base
    # the budget's unit: params is the default runs had before units existed (same identity); bytes is another run
    assert config_hash(compose_config("ratio=1/8", "budget.unit=params")) == base
    assert "budget" not in experiment_config(compose_config("ratio=1/8"))
    assert config_hash(compose_config("ratio=1/8", "budget.unit=bytes")) != base


def test_a_live_run_is_never_joined_and_a_failed_one_is_redone(tmp_path):
    cfg = compose_config("method=nn", output_root=tmp_path)
    holder = claim_run_dir(cfg, {"method": "nn"})
    assert not holder.skipped
    second = claim_run_dir(cfg, {"method": "nn"})  # the same experiment launched again meanwhile
    assert second.skipped and "another live process" in second.skip_reason
    with pytest.raises(RuntimeError):
        with holder:
            raise RuntimeError("out of memory")
    failed = read_record(holder.dir)
    assert failed["status"] == "failed" and "out of memory" in failed["error"]
    again = claim_run_dir(cfg, {"method": "nn"})
    assert not again.skipped and read_record(again.dir)["status"] == "running"
    assert read_record(again.dir / ATTEMPTS_DIR / "1")["status"] == "failed"
    again.release()


def test_an_interrupt_is_recorded_once_whether_it_lands_before_the_with_block_or_inside_it(tmp_path):
    cfg = compose_config("method=nn", output_root=tmp_path)
    early = claim_run_dir(cfg, {"method": "nn"})  # the record says `running`; the run has not started its block
    early.close(KeyboardInterrupt())  # what main.py does with a Ctrl-C that lands here
    assert read_record(early.dir)["status"] == "interrupted"
    late = claim_run_dir(cfg, {"method": "nn"})
    with pytest.raises(KeyboardInterrupt):
        with late:
            raise KeyboardInterrupt()
    recorded = read_record(late.dir)
    late.close(RuntimeError("a second report of the same stop"))  # closed already: changes nothing
    assert read_record(late.dir) == recorded and recorded["status"] == "interrupted"
    again = claim_run_dir(cfg, {"method": "nn"})
    assert not again.skipped  # the claim was dropped: the next launch redoes it
    again.release()


@pytest.mark.parametrize("preset", ["smoke", "table", "curve", "inflation"])
def test_presets_compose_with_their_sweeps(preset):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={preset}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert "hashednets" in params.method.split(",")
    assert f"/multiruns/{preset}_" in cfg.hydra.sweep.dir


def test_inflation_keeps_the_stored_size_while_the_virtual_net_grows():
    budgets, widths = [], []
    for factor in ["x1", "x2", "x4", "x8", "x16"]:
        cfg = compose_config("experiment=inflation", f"inflation={factor}")
        width = OmegaConf.to_container(cfg, resolve=True)["model"]["hidden"][0]
        params_ref = ModelFactory.from_config(cfg, cfg.train, (1, 28, 28), 10).params_ref()
        budgets.append(params_budget(parse_ratio(cfg.ratio), params_ref))
        widths.append(width)
    assert widths == [50, 100, 200, 400, 800]
    assert max(budgets) - min(budgets) <= 10  # differs only by the 10 output biases, which do not grow


@pytest.mark.parametrize("launcher, target", [("parallel", "ParallelLauncher"), ("slurm", "SlurmLauncher"),
                                              ("slurm_local", "LocalLauncher"), ("ray_cluster", "RayLauncher"),
                                              ("population", "PopulationLauncher"),
                                              ("population_slurm", "PopulationLauncher")])
def test_launcher_configs_compose(launcher, target):
    if launcher == "ray_cluster":
        pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="optional: requirements-ray.txt")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)


def test_every_method_on_the_conv_nets_sweeps_resumes_and_reports(tmp_path):
    tiny = [o for o in TINY if not o.startswith("model.")]
    sweep = ("-m", "experiment=smoke", "model=lenet5,resnet20", *tiny, "train.epochs=1", "hydra/launcher=parallel",
             "hydra.launcher.n_jobs=2")
    main_py(*sweep, output_root=tmp_path)
    found = records(tmp_path)
    methods = {"dense", "nn", "hashednets", "lowrank", "rer", "dk", "hashednets_dk", "pruning", "sketch"}
    assert {(r["model"], r["method"]) for r in found.values()} == {(m, n) for m in ("lenet5", "resnet20") for n in methods}
    assert all(r["status"] in ("complete", "diverged") and r["params_stored"] <= r["params_budget"]
               for r in found.values())
    again = main_py(*sweep, output_root=tmp_path)  # a relaunch redoes nothing
    assert again.stdout.count("skipping") == len(found) and records(tmp_path) == found
    page = leaderboard.write_report(list(found.values()), tmp_path / "report", section_builders=[])["html"].read_text()
    assert "mnist5k_tiny · lenet5 · 1 epochs" in page and "mnist5k_tiny · resnet20 · 1 epochs" in page
