"""`task=compress`: one benchmark run. The flow: config -> data -> the dense model -> the method's
compressed model for the budget -> fit, selecting the best validation epoch -> test once -> export
-> result record -> loggers. `main.py` calls `start` (conf/task/compress.yaml), claims the run's directory
and calls `run` (bench/run/task.py).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from bench.compression.budget import Budget
from bench.run.settings import RunSettings
from bench.machine.cpu import configure_cpu
from bench.machine.data_cache import load_dataset
from bench.machine.device import describe_device, make_deterministic, place_data
from bench.training.evaluate import error_of, predictions
from bench.compression.checkpoint import export_compressed
from bench.training.hparams import with_hparams
from bench.run.loggers import make_loggers
from bench.machine.memory import require_model_fits
from bench.machine.precision import set_precision
from bench.compression.method import load_method
from bench.compression.model_factory import ModelFactory
from bench.run.identity import config_hash, experiment_config
from bench.run.record import CHECKPOINT_FILE, CompressRecord, library_versions, write_result
from bench.storage.predictions import write_test_predictions
from bench.storage.state_files import file_sha256
from bench.launch.sweeps import sweep_dir, sweep_group
from bench.training.trainer import FitResult, Trainer, TrainingDiverged
from datasets.centering import center_inputs, input_transform

log = logging.getLogger("bench")


def model_options(cfg: DictConfig) -> dict:
    """The model's options that define it (e.g. `hidden`), without those it takes from the recipe."""
    raw = OmegaConf.to_container(cfg.model, resolve=False)
    resolved = OmegaConf.to_container(cfg.model, resolve=True)
    return {key: resolved[key] for key, value in raw.items()
            if key not in ("_target_", "name") and not str(value).startswith("${train.")}


def start(cfg: DictConfig) -> dict:
    """The run's record before it starts (so failed runs show up too): the cell it belongs to; with
    `tuned=true`, the cell's study's best hyperparameters are set as `cfg.hparams` first."""
    source = {"hparams_source": use_tuned_hparams(cfg)} if cfg.tuned else {}
    return {**summary(cfg, RunSettings.from_config(cfg)), **source}


def summary(cfg: DictConfig, settings: RunSettings) -> dict:
    """What names the run in its record, known before it starts."""
    ratio = settings.ratio
    return {"task": "compress", "method": cfg.method.name, "ratio": str(ratio), "ratio_value": float(ratio),
            "compression_factor": float(settings.compression_factor), "dataset": cfg.dataset.name,
            "dataset_requested": cfg.dataset.name, "model": cfg.model.name, "model_options": model_options(cfg),
            "seed": settings.seed, "epochs_budget": cfg.train.epochs, "budget_unit": settings.budget_unit,
            "evaluate_test": bool(cfg.evaluate_test), "device_requested": cfg.device,
            "hparams": OmegaConf.to_container(cfg.hparams, resolve=True)}


def use_tuned_hparams(cfg: DictConfig) -> dict:
    """`tuned=true`: set `cfg.hparams` to the best trial of the cell's study; return where they came from."""
    from bench.tuning.study import best_hparams  # optuna: imported only by runs that need it

    hparams, source = best_hparams(cfg, list(HydraConfig.get().overrides.task))
    with open_dict(cfg):
        cfg.hparams = hparams
    log.info("tuned hyperparameters from study %s, trial %d (validation error %.4f): %s",
             source["study"], source["trial"], source["val_error"], hparams)
    return source


def wandb_job_type(cfg: DictConfig) -> str:
    """What the run is: a tuning `trial` (validation only), a `final` run with a study's hparams, or a `run`."""
    if not cfg.evaluate_test:
        return "trial"
    return "final" if cfg.tuned else "run"


def wandb_run_name(cfg: DictConfig, settings: RunSettings, dataset_name: str, identity: str) -> str:
    """Trials of a study share method, data, model, ratio and seed: their hash tells them apart."""
    name = f"{cfg.method.name}-{dataset_name}-{cfg.model.name}-r{settings.ratio}-s{settings.seed}"
    return f"{name}-trial-{identity[:8]}" if wandb_job_type(cfg) == "trial" else name


def wandb_tags(cfg: DictConfig, dataset_name: str) -> list[str]:
    return [wandb_job_type(cfg), cfg.method.name, dataset_name, cfg.model.name]


def wandb_config(cfg: DictConfig, settings: RunSettings) -> dict:
    """The experiment's config with the ratio as a number (wandb takes a string for a category)."""
    return {**experiment_config(cfg), "ratio": float(settings.ratio), "ratio_label": str(settings.ratio),
            "compression_factor": float(settings.compression_factor)}


def build_model(cfg: DictConfig, settings: RunSettings, train_cfg, method_cfg, data):
    """(factory, method, budget, model): the method's compressed model for the budget, on the host."""
    factory = ModelFactory.from_config(cfg, train_cfg, data.input_shape, data.num_classes, input_transform(data))
    # the dense model is built on the host, then the compressed one moves to the device
    require_model_fits(factory.params_ref(), cfg.model.name, [torch.device("cpu"), settings.device])
    method = load_method(method_cfg)
    budget = Budget.plan(settings.budget_unit, settings.ratio, method, method_cfg, factory, settings.seed)
    model = method.build(factory, budget.build_params, settings.seed)
    budget.require_within(method, model)
    return factory, method, budget, model


@dataclass
class PreparedRun:
    """A run ready to train: its model built and on the device with the data, its loggers started."""

    cfg: DictConfig
    settings: RunSettings
    output_dir: Path
    loggers: object
    data: object
    factory: ModelFactory
    method: object
    method_cfg: DictConfig
    budget: Budget
    model: torch.nn.Module
    trainer: Trainer
    record: CompressRecord


def load_run_data(cfg: DictConfig, train_cfg, with_test: bool):
    """The data set a run trains on, on the recipe's input scale when it asks for one (datasets/centering.py);
    `with_test=False` leaves the test split as loaded (a tuning trial never reads it)."""
    data = load_dataset(cfg.dataset)
    _ = data.num_classes  # a regression set refuses here, in one error line, before its inputs are touched
    return center_inputs(data, with_test=with_test) if train_cfg.center_inputs else data


def prepare_run(cfg: DictConfig, output_dir: Path, start_record: dict, data=None) -> PreparedRun:
    """Everything before training; `data`: the data set already loaded (load_run_data) and placed (a
    population's members share it)."""
    settings = RunSettings.from_config(cfg)
    device = settings.device
    determinism = make_deterministic(device)
    precision = set_precision(cfg.precision)
    cpu = configure_cpu(cfg.threads, cfg.flush_denormal)  # before the method imports numba
    torch.manual_seed(settings.seed)
    train_cfg, method_cfg = with_hparams(cfg)
    group = cfg.logger.get("group") or sweep_group()
    identity = config_hash(cfg)
    # wandb starts while the data loads and the model is built
    loggers = make_loggers(cfg, output_dir, wandb_config(cfg, settings), wandb_run_name(cfg, settings, cfg.dataset.name, identity),
                           group, sweep_dir(), wandb_job_type(cfg), wandb_tags(cfg, cfg.dataset.name))
    try:
        if data is None:
            data = place_data(load_run_data(cfg, train_cfg, cfg.evaluate_test), device)
        factory, method, budget, model = build_model(cfg, settings, train_cfg, method_cfg, data)
        model.to(device)
    except BaseException:
        loggers.abandon()
        raise
    # the data set actually used (a fallback has its own name)
    loggers.ready(wandb_run_name(cfg, settings, data.name, identity), wandb_tags(cfg, data.name))
    trainer = Trainer.from_config(train_cfg, settings.seed, on_epoch=loggers.log_epoch)
    record: CompressRecord = {**start_record, "dataset": data.name, "dataset_notes": data.notes, "dataset_sizes": data.sizes(),
              "versions": library_versions(), "device": describe_device(device), "determinism": determinism,
              "precision": precision, "cpu": cpu, "data_on_device": data.train_x.device == device}
    return PreparedRun(cfg, settings, output_dir, loggers, data, factory, method, method_cfg, budget, model, trainer,
                       record)


def finish_run(run: PreparedRun, fit: FitResult | TrainingDiverged, train_seconds: float) -> CompressRecord:
    """Everything after training: test once, export, the record, the loggers. `fit`: the method's fit, or
    the divergence that ended it (a status, never a number: no test error, no checkpoint)."""
    cfg, output_dir, method, model, loggers, record = run.cfg, run.output_dir, run.method, run.model, run.loggers, run.record
    data, budget = run.data, run.budget
    if isinstance(fit, TrainingDiverged):
        log.warning("%s; recorded as diverged", fit)
        record.update(status="diverged", **budget.as_record(method.stored_params(model)),
                      divergence=fit.as_record(), history=fit.history,
                      train_seconds=round(train_seconds, 3), loggers=loggers.describe())
    else:
        tested = time.perf_counter()
        # the only look at the test set; tuning trials never take it
        predicted = predictions(model, data.test_x) if cfg.evaluate_test else None
        test_error = error_of(predicted, data.test_y) if cfg.evaluate_test else None
        test_seconds = time.perf_counter() - tested
        bytes_on_disk = export_compressed(output_dir / CHECKPOINT_FILE, method, run.method_cfg, run.factory,
                                          budget.build_params, run.settings.seed, model)
        if cfg.evaluate_test:  # kept for the report's paired tests between methods (reports/verdicts.py)
            record["test_predictions_sha256"] = write_test_predictions(output_dir, predicted, data.test_y)
        record.update(status="complete", **budget.as_record(method.stored_params(model), bytes_on_disk),
                      bytes_on_disk=bytes_on_disk, checkpoint_sha256=file_sha256(output_dir / CHECKPOINT_FILE),
                      val_error=fit.best_val_error,
                      test_error=test_error, best_epoch=fit.best_epoch, epochs_run=fit.epochs_run,
                      train_seconds=round(train_seconds, 3), test_seconds=round(test_seconds, 3),
                      history=fit.history, fit_notes=fit.notes, loggers=loggers.describe())
    write_result(output_dir, record)  # before the loggers finish, so a wandb failure loses nothing
    loggers.finish(record)
    return record


def run(cfg: DictConfig, output_dir: Path, start_record: dict) -> CompressRecord:
    prepared = prepare_run(cfg, output_dir, start_record)
    started = time.perf_counter()
    try:
        fit = prepared.method.fit(prepared.model, prepared.trainer, prepared.data)  # leaves the best-validation weights
    except TrainingDiverged as diverged:
        fit = diverged
    return finish_run(prepared, fit, time.perf_counter() - started)
