"""Log the leaderboard's curves to Weights & Biases: per setup, a table and a line plot of test
error against compression factor per method, and the PNG figure."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["method_label", "compression_factor", "test_error_mean_pct", "test_error_std_pct", "n_seeds", "complete"]


def log_to_wandb(cells: pd.DataFrame, figures: dict[str, Path], project: str, mode: str, out_dir: Path) -> str:
    """`figures`: setup title -> its PNG. Returns the wandb run's directory."""
    import wandb

    run = wandb.init(project=project, mode=mode, job_type="leaderboard", name="leaderboard", dir=str(out_dir),
                     reinit="create_new")
    for title, figure in figures.items():
        setup_cells = cells[cells["setup_title"] == title][COLUMNS].rename(columns={"method_label": "method"})
        table = wandb.Table(dataframe=setup_cells.astype({"complete": str}))
        run.log({f"{title}/cells": table,
                 f"{title}/error_vs_compression": wandb.plot.line(
                     table, "compression_factor", "test_error_mean_pct", stroke="method",
                     title=f"test error (%) vs compression factor: {title}"),
                 f"{title}/figure": wandb.Image(str(figure))})
    run_dir = run.dir
    run.finish()
    return run_dir
