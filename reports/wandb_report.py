"""Log the leaderboard's curves to Weights & Biases inside each sweep's own group: per wandb group
the runs were logged in (a sweep's), one run of job_type `leaderboard` in that group holding, per
setup, a table of the group's cells and a line plot of test error against compression factor per
method. Runs logged outside any group (single runs) get one such run outside any group."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

COLUMNS = ["method_label", "compression_factor", "test_error_mean_pct", "test_error_std_pct", "n_seeds", "complete"]


def wandb_group(record: dict) -> str | None:
    """The wandb group the run was logged in (its sweep's), None for a run logged alone or not at all."""
    return ((record.get("loggers") or {}).get("wandb") or {}).get("group") or None


def log_to_wandb(records: list[dict], titled_cells: Callable[[list[dict]], pd.DataFrame], project: str, mode: str,
                 out_dir: Path) -> list[str]:
    """`titled_cells`: a set of records' cells with their `setup_title`. Returns the wandb runs' directories."""
    by_group: dict[str | None, list[dict]] = {}
    for record in records:
        by_group.setdefault(wandb_group(record), []).append(record)
    return [_log_group(group, titled_cells(group_records), project, mode, out_dir)
            for group, group_records in by_group.items()]


def _log_group(group: str | None, cells: pd.DataFrame, project: str, mode: str, out_dir: Path) -> str:
    import wandb

    run = wandb.init(project=project, mode=mode, group=group, job_type="leaderboard", name="leaderboard",
                     dir=str(out_dir), reinit="create_new")
    for title, setup_cells in cells.groupby("setup_title", sort=True):
        table = wandb.Table(dataframe=setup_cells[COLUMNS].rename(columns={"method_label": "method"})
                            .astype({"complete": str}))
        run.log({f"{title}/cells": table,
                 f"{title}/error_vs_compression": wandb.plot.line(
                     table, "compression_factor", "test_error_mean_pct", stroke="method",
                     title=f"test error (%) vs compression factor: {title}")})
    run_dir = run.dir
    run.finish()
    return run_dir
