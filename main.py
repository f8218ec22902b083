"""Train, evaluate and record one compression benchmark run.

    python main.py method=hashednets ratio=1/8          # the defaults
    python main.py -m method=hashednets,nn ratio=1/8,1/64 seed=1,2,3
    python main.py -m experiment=curve seed=1,2,3 hydra/launcher=parallel

The flow (DESIGN.md): config -> data -> architecture -> compressed model for the budget ->
fit, selecting the best validation epoch -> test once -> export -> result record -> loggers.
Each run writes to its own `runs/<config hash>/`; a complete one is skipped (bench/resume.py).
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from bench.architecture import mlp_spec
from bench.budget import parse_budget_unit, parse_ratio
from bench.cli_checks import unknown_group_choice
from bench.components import call_target
from bench.errors import UserError
from bench.evaluate import error_rate
from bench.export import export_compressed
from bench.hparams import with_hparams
from bench.loggers import make_loggers
from bench.record import experiment_config, library_versions, write_result
from bench.resume import claim_run_dir
from bench.run_budget import plan_budget
from tasks.theory.etf import run_etf
from tasks.theory.hashed_recovery import run_hashed_recovery
from tasks.theory.sketch_manifold import run_sketch_manifold
from bench.trainer import Trainer, TrainingDiverged
from bench.tuning.study import best_hparams

log = logging.getLogger("bench")


def summary(cfg: DictConfig) -> dict:
    """What names the experiment in its record, known before it starts (so failed runs show up too)."""
    if cfg.task != "compress":
        return {"task": cfg.task, "seed": cfg.seed}
    ratio = parse_ratio(cfg.ratio)
    return {"task": "compress", "method": cfg.method.name, "ratio": str(ratio), "ratio_value": float(ratio),
            "compression_factor": float(1 / ratio), "dataset": cfg.dataset.name,
            "dataset_requested": cfg.dataset.name, "model": cfg.model.name, "hidden": [int(h) for h in cfg.model.hidden],
            "seed": cfg.seed, "epochs_budget": cfg.train.epochs, "budget_unit": parse_budget_unit(cfg.budget.unit),
            "evaluate_test": bool(cfg.evaluate_test),
            "hparams": OmegaConf.to_container(cfg.hparams, resolve=True)}


def use_tuned_hparams(cfg: DictConfig) -> dict:
    """`tuned=true`: set `cfg.hparams` to the best trial of the cell's study; return where they came from."""
    hparams, source = best_hparams(cfg, list(HydraConfig.get().overrides.task))
    with open_dict(cfg):
        cfg.hparams = hparams
    log.info("tuned hyperparameters from study %s, trial %d (validation error %.4f): %s",
             source["study"], source["trial"], source["val_error"], hparams)
    return source


def sweep_name() -> str | None:
    """The sweep's directory name under multirun (groups its wandb runs), else None."""
    if not HydraConfig.initialized():  # run() called directly, e.g. from a test
        return None
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.sweep.dir).name if hydra_cfg.mode == RunMode.MULTIRUN else None


def run(cfg: DictConfig, output_dir: Path, start_record: dict) -> dict:
    ratio = parse_ratio(cfg.ratio)
    torch.manual_seed(cfg.seed)
    # Same seed -> same result on CPU: without this, scatter-adds (e.g. the gradient of a
    # hashed layer) sum in thread-dependent order. Warn-only where no such kernel exists.
    torch.use_deterministic_algorithms(True, warn_only=True)
    train_cfg, method_cfg = with_hparams(cfg)
    data = call_target(cfg.dataset)
    spec = mlp_spec(cfg.model, train_cfg, data.in_features, data.num_classes)
    method = call_target(method_cfg)
    budget = plan_budget(cfg.budget.unit, ratio, method, method_cfg, spec, cfg.seed)
    model = method.build(spec, budget.build_params, cfg.seed)
    budget.require_within(method, model)

    run_name = f"{cfg.method.name}-{data.name}-{cfg.model.name}-r{ratio}-s{cfg.seed}"
    group = cfg.logger.get("group") or sweep_name()
    loggers = make_loggers(cfg, output_dir, experiment_config(cfg), run_name, group)
    trainer = Trainer.from_config(train_cfg, cfg.seed, on_epoch=loggers.log_epoch)
    started = time.perf_counter()
    record = {**start_record, "dataset": data.name, "dataset_notes": data.notes, "dataset_sizes": data.sizes(),
              "versions": library_versions()}
    try:
        fit = method.fit(model, trainer, data)  # leaves the best-validation weights in `model`
    except TrainingDiverged as diverged:  # a status, never a number: no test error, no checkpoint
        log.warning("%s; recorded as diverged", diverged)
        record.update(status="diverged", **budget.as_record(method.stored_params(model)),
                      divergence=diverged.as_record(), history=diverged.history,
                      train_seconds=round(time.perf_counter() - started, 3), loggers=loggers.describe())
    else:
        train_seconds = time.perf_counter() - started
        # the only look at the test set; tuning trials never take it
        test_error = error_rate(model, data.test_x, data.test_y) if cfg.evaluate_test else None
        bytes_on_disk = export_compressed(output_dir / "model.pt", method, method_cfg, spec, budget.build_params,
                                          cfg.seed, model)
        record.update(status="complete", **budget.as_record(method.stored_params(model), bytes_on_disk),
                      bytes_on_disk=bytes_on_disk, val_error=fit.best_val_error,
                      test_error=test_error, best_epoch=fit.best_epoch, epochs_run=fit.epochs_run,
                      train_seconds=round(train_seconds, 3), history=fit.history, fit_notes=fit.notes,
                      loggers=loggers.describe())
    write_result(output_dir, record)  # before the loggers finish, so a wandb failure loses nothing
    loggers.finish(record)
    return record


def outcome(record: dict) -> dict:
    """What a job returns to its sweeper (a tuning study scores trials with it)."""
    return {key: record.get(key) for key in ("status", "val_error", "test_error", "config_hash")}


# `task` picks the kind of run: the classification benchmark above, or an experiment from the theory papers.
TASK_RUNNERS = {"compress": run, "etf": run_etf, "sketch_manifold": run_sketch_manifold,
                "hashed_recovery": run_hashed_recovery}


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    try:
        if cfg.task not in TASK_RUNNERS:
            raise UserError(f"task={cfg.task}: unknown; allowed: {', '.join(TASK_RUNNERS)}")
        launch_dir = HydraConfig.get().runtime.output_dir  # Hydra's config and log of this attempt
        source = {"hparams_source": use_tuned_hparams(cfg)} if cfg.task == "compress" and cfg.tuned else {}
        slot = claim_run_dir(cfg, {**summary(cfg), **source, "launch_dir": launch_dir}, rerun=cfg.rerun)
        if slot.skipped:
            log.info("skipping %s: %s", slot.dir, slot.skip_reason)
            return outcome(slot.previous or {})
        with slot:  # a failure is recorded in result.json as `failed`; a killed run stays `running`
            return outcome(TASK_RUNNERS[cfg.task](cfg, slot.dir, slot.start_record))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        if sweep_name():
            raise  # in a sweep, Hydra records this job as failed and goes on with the others
        sys.exit(2)


if __name__ == "__main__":
    problem = unknown_group_choice(sys.argv[1:], Path(__file__).parent / "conf")
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    main()
