"""Where a run reports: a live console line per epoch, a progress bar on a terminal (bench/launch/progress.py),
and Weights & Biases (offline by default).

A logger failure never costs the local result record: wandb errors are reported as warnings.
wandb starts in a background thread while the run loads its data, within `logger.init_timeout`
seconds; when it cannot start in a sweep, the sweep's other runs skip it (a marker file in the
sweep's directory, seen by parallel workers and later jobs alike).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from omegaconf import OmegaConf

from bench.launch.progress import EpochProgress, on_terminal
from bench.run.record import CHECKPOINT_FILE

log = logging.getLogger("bench")
EPOCH_METRICS = ("train_loss", "val_error", "best_val_error", "lr", "seconds")  # plotted against `epoch`


class ConsoleLogger:
    def log_epoch(self, m: dict) -> None:
        log.info("%s epoch %3d/%d | train loss %.4f | val error %6.2f%% (best %6.2f%%) | lr %.4f | %.1fs",
                 m["phase"], m["epoch"], m["epochs"], m["train_loss"], 100 * m["val_error"],
                 100 * m["best_val_error"], m["lr"], m["seconds"])

    def finish(self, record: dict) -> None:
        if record["status"] == "diverged":
            log.warning("%s on %s at ratio %s: DIVERGED (%s); no test error", record["method"], record["dataset"],
                        record["ratio"], record["divergence"]["reason"])
            return
        test = "not evaluated (tuning trial)" if record["test_error"] is None else f"{100 * record['test_error']:.2f}%"
        log.info("%s on %s at ratio %s: test error %s (val %.2f%%, epoch %d) | stored %d of %d params "
                 "(budget %d, fill %.3f) | %d bytes on disk | %.1fs training",
                 record["method"], record["dataset"], record["ratio"], test,
                 100 * record["val_error"], record["best_epoch"], record["params_stored"], record["params_ref"],
                 record["params_budget"], record["fill"], record["bytes_on_disk"], record["train_seconds"])


class WandbLogger:
    """One wandb run per harness run, as wandb users expect: `group` the sweep, `job_type` what the run
    is (run, trial, final), tags (that and method, data set, model), numbers as numbers; per-epoch
    metrics against `epoch` and the test error against `compression_factor` (`define_metric`); the
    final figures in the summary, the checkpoint as an artifact with `logger.log_model=true`. A
    dark-knowledge teacher trained in the run gets its own wandb run (job_type `teacher`), same group.

    `wandb.init` runs in a background thread; `run` waits for it (and raises its error).
    """

    def __init__(self, logger_cfg, run_config: dict, output_dir: Path, run_name: str, group: str | None,
                 job_type: str, tags: list[str]):
        self.logger_cfg, self.run_config, self.output_dir, self.group = logger_cfg, run_config, output_dir, group
        self.run_name, self.tags = run_name, tags
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wandb-init")
        self._starting = pool.submit(self._init, run_name, job_type, tags)
        pool.shutdown(wait=False)  # its one thread ends when wandb.init returns
        self.teacher = None
        self.step = 0

    def _init(self, name: str, job_type: str, tags: list[str]):
        import wandb

        cfg = self.logger_cfg
        settings = OmegaConf.to_container(cfg.settings) if cfg.settings else {}  # null: none
        run = wandb.init(
            mode=cfg.mode, project=cfg.project, entity=cfg.entity, group=self.group, job_type=job_type,
            tags=tags + list(cfg.tags or []), name=name, dir=str(self.output_dir), config=self.run_config,
            reinit="create_new", settings=wandb.Settings(init_timeout=cfg.init_timeout, **settings),
        )
        run.define_metric("epoch")
        for metric in EPOCH_METRICS:
            run.define_metric(metric, step_metric="epoch")
        run.define_metric("compression_factor")
        run.define_metric("test_error", step_metric="compression_factor")
        return run

    @property
    def run(self):
        return self._starting.result()

    def describe(self) -> dict:
        return {"mode": self.run.settings.mode, "id": self.run.id, "dir": self.run.dir, "group": self.run.group}

    def rename(self, run_name: str, tags: list[str]) -> None:
        """The data set actually used is known once it has loaded (a fallback has its own name)."""
        self.run_name, self.tags = run_name, tags
        self.run.name, self.run.tags = run_name, tuple(tags + list(self.logger_cfg.tags or []))

    def log_epoch(self, m: dict) -> None:
        metrics = {k: v for k, v in m.items() if k != "epochs"}
        if m["phase"] == "teacher":
            if self.teacher is None:
                self.teacher = self._init(f"{self.run_name}-teacher", "teacher", ["teacher", *self.tags[1:]])
            self.teacher.log(metrics)
            return
        self._finish_teacher()
        self.step += 1  # one step per epoch across phases (e.g. prune and retrain)
        self.run.log(metrics, step=self.step)

    def _finish_teacher(self, exit_code: int = 0) -> None:
        if self.teacher is not None:
            self.teacher.finish(exit_code=exit_code)
            self.teacher = None

    def finish(self, record: dict) -> None:
        self._finish_teacher()
        if record.get("test_error") is not None:
            self.run.log({"compression_factor": record["compression_factor"], "test_error": record["test_error"]})
        summary = {k: v for k, v in record.items() if isinstance(v, (int, float, str))}
        if "ratio_value" in record:  # a number (wandb takes a string for a category), its label beside it
            summary.update(ratio=record["ratio_value"], ratio_label=record["ratio"])
        self.run.summary.update(summary)
        if self.logger_cfg.get("log_model") and record["status"] == "complete":
            self._log_checkpoint(record)
        self.run.finish()

    def _log_checkpoint(self, record: dict) -> None:
        import wandb

        artifact = wandb.Artifact(f"model-{record['config_hash'][:16]}", type="model", metadata={
            key: record.get(key) for key in ("method", "dataset", "model", "ratio_value", "seed", "params_stored",
                                             "bytes_on_disk", "test_error", "checkpoint_sha256")})
        artifact.add_file(str(self.output_dir / CHECKPOINT_FILE))
        self.run.log_artifact(artifact)

    def abandon(self) -> None:
        self._finish_teacher(exit_code=1)
        self.run.finish(exit_code=1)


class Loggers:
    """Fans out to every logger; a failing non-console logger is dropped with a warning.

    `wandb_given_up`: in a sweep, the marker file that tells its runs to skip wandb.
    """

    def __init__(self, loggers: list, wandb_given_up: Path | None = None):
        self.loggers = loggers
        self.wandb_given_up = wandb_given_up
        self.errors: list[str] = []

    def _each(self, call: str, payload: dict) -> None:
        for logger in list(self.loggers):
            try:
                getattr(logger, call)(payload)
            except Exception as err:  # a logging service must not end the run
                if isinstance(logger, ConsoleLogger):
                    raise
                self._drop(logger, f"{type(logger).__name__}.{call} failed: {err}")

    def _drop(self, logger, message: str) -> None:
        log.warning("%s; continuing without it", message)
        self.errors.append(message)
        self.loggers.remove(logger)

    def _wandb(self) -> list[WandbLogger]:
        return [logger for logger in self.loggers if isinstance(logger, WandbLogger)]

    def ready(self, run_name: str, tags: list[str]) -> None:
        """Wait for wandb to have started (it starts while the data loads) and give its run its final name."""
        for logger in self._wandb():
            try:
                logger.rename(run_name, tags)
            except Exception as err:
                reason = str(err).partition("\n")[0]  # wandb adds lines of advice
                self._drop(logger, f"wandb.init failed: {reason}")
                self._give_up_on_wandb(reason)

    def _give_up_on_wandb(self, reason: str) -> None:
        if self.wandb_given_up is None:  # a single run: the warning above says it
            return
        try:
            with open(self.wandb_given_up, "x") as marker:  # the first run to fail says it for the sweep
                marker.write(f"wandb could not start in a run of this sweep: {reason}\n")
        except FileExistsError:
            return
        except OSError as write_error:  # e.g. a read-only sweep directory: the sweep's runs go on trying wandb
            log.warning("could not write %s (%s)", self.wandb_given_up, write_error)
            return
        log.warning("the other runs of this sweep skip wandb (delete %s to try again)", self.wandb_given_up)

    def abandon(self) -> None:
        """The run failed before training: close its wandb run as failed."""
        for logger in self._wandb():
            try:
                logger.abandon()
            except Exception:  # it never started: nothing to close
                pass
        self.loggers = [logger for logger in self.loggers if not isinstance(logger, WandbLogger)]

    def log_epoch(self, metrics: dict) -> None:
        self._each("log_epoch", metrics)

    def finish(self, record: dict) -> None:
        self._each("finish", record)

    def describe(self) -> dict:
        wandb_runs = [logger.describe() for logger in self._wandb()]
        return {"wandb": wandb_runs[0] if wandb_runs else None, "errors": self.errors}


WANDB_GIVEN_UP = "wandb_unavailable.txt"


def make_loggers(cfg, output_dir: Path, run_config: dict, run_name: str, group: str | None = None,
                 sweep_dir: Path | None = None, job_type: str = "run", tags: list[str] = ()) -> Loggers:
    """`group`: the wandb group (e.g. the sweep), so a sweep's runs are shown together. `sweep_dir`: the
    sweep's directory, where a run that could not start wandb leaves the marker the others skip it by.
    `job_type` and `tags`: what the run is (WandbLogger).

    Call `ready` before logging: wandb starts in the background meanwhile.
    """
    given_up = Path(sweep_dir) / WANDB_GIVEN_UP if sweep_dir else None
    loggers = Loggers([ConsoleLogger()], given_up)
    if on_terminal():
        loggers.loggers.append(EpochProgress(f"{cfg.method.name} {cfg.ratio}"))
    if cfg.logger.name != "wandb":
        return loggers
    if given_up is not None and given_up.exists():
        reason = given_up.read_text().strip()
        loggers.errors.append(f"wandb skipped: {reason}")
        log.info("wandb skipped (%s; delete %s to try again)", reason, given_up)
        return loggers
    loggers.loggers.append(WandbLogger(cfg.logger, run_config, output_dir, run_name, group, job_type, list(tags)))
    return loggers
