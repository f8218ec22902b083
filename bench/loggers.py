"""Where a run reports: a live console line per epoch, and Weights & Biases (offline by default).

A logger failure never costs the local result record: wandb errors are reported as warnings.
"""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("bench")


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
    """One wandb run per harness run: resolved config, per-epoch metrics, final figures in the summary."""

    def __init__(self, logger_cfg, run_config: dict, output_dir: Path, run_name: str, group: str | None):
        import wandb

        self.run = wandb.init(
            mode=logger_cfg.mode, project=logger_cfg.project, entity=logger_cfg.entity,
            group=group, tags=list(logger_cfg.tags or []), name=run_name,
            dir=str(output_dir), config=run_config, reinit="create_new",
        )
        self.step = 0

    def describe(self) -> dict:
        return {"mode": self.run.settings.mode, "id": self.run.id, "dir": self.run.dir, "group": self.run.group}

    def log_epoch(self, m: dict) -> None:
        self.step += 1  # one step per epoch across phases (e.g. prune and retrain)
        self.run.log({k: v for k, v in m.items() if k != "epochs"}, step=self.step)

    def finish(self, record: dict) -> None:
        self.run.summary.update({k: v for k, v in record.items() if isinstance(v, (int, float, str))})
        self.run.finish()


class Loggers:
    """Fans out to every logger; a failing non-console logger is dropped with a warning."""

    def __init__(self, loggers: list):
        self.loggers = loggers
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

    def log_epoch(self, metrics: dict) -> None:
        self._each("log_epoch", metrics)

    def finish(self, record: dict) -> None:
        self._each("finish", record)

    def describe(self) -> dict:
        wandb_runs = [l.describe() for l in self.loggers if isinstance(l, WandbLogger)]
        return {"wandb": wandb_runs[0] if wandb_runs else None, "errors": self.errors}


def make_loggers(cfg, output_dir: Path, run_config: dict, run_name: str, group: str | None = None) -> Loggers:
    """`group`: the wandb group (e.g. the sweep), so a sweep's runs are shown together."""
    loggers = Loggers([ConsoleLogger()])
    if cfg.logger.name == "wandb":
        try:
            loggers.loggers.append(WandbLogger(cfg.logger, run_config, output_dir, run_name, group))
        except Exception as err:
            loggers.errors.append(f"wandb.init failed: {err}")
            log.warning("wandb.init failed (%s); continuing with console logging only", err)
    return loggers
