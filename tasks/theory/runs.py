"""What every theory run shares: its result record, its figure files, and reporting to wandb."""
from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from bench.storage.files import write_figure_atomically  # noqa: E402
from bench.run.loggers import WandbLogger  # noqa: E402
from bench.run.record import library_versions, write_result  # noqa: E402

log = logging.getLogger("bench")


def save_figure(fig, path: Path) -> str:
    write_figure_atomically(path, fig)
    plt.close(fig)
    return path.name


def finish_run(cfg, output_dir: Path, start_record: dict, results: dict, figures: list[str],
               seconds: float) -> dict:
    """Complete the run's record (task, config and its hash come with `start_record`) and write
    result.json before any logger, so a wandb failure loses nothing; then log to wandb.

    `results` holds the task's figures and a flat `summary` of headline numbers (logged, printed).
    """
    task = start_record["task"]
    record = {
        **start_record,
        "status": "complete",
        **results,
        "figures": figures,
        "seconds": round(seconds, 3),
        "versions": library_versions(),
    }
    record["loggers"] = {"wandb": None, "errors": []}
    write_result(output_dir, record)
    log.info("%s: %s", task, ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in record["summary"].items()))
    if cfg.logger.name == "wandb":
        record["loggers"] = _log_to_wandb(cfg, output_dir, task, record)
        write_result(output_dir, record)
    return record


def _log_to_wandb(cfg, output_dir: Path, task: str, record: dict) -> dict:
    try:
        import wandb

        logger = WandbLogger(cfg.logger, record["config"], output_dir, f"{task}-s{cfg.seed}", cfg.logger.get("group"))
        logger.run.log({Path(name).stem: wandb.Image(str(output_dir / name)) for name in record["figures"]})
        described = logger.describe()
        logger.finish({"task": task, **record["summary"]})
        return {"wandb": described, "errors": []}
    except Exception as err:  # a logging service must not end the run
        log.warning("wandb logging failed (%s); the result record is kept", err)
        return {"wandb": None, "errors": [f"wandb failed: {err}"]}
