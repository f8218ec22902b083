"""From result records to leaderboard cells: one cell per setup, method and ratio, over seeds.

A setup is one data set, model, epoch budget, recipe (the training config and the data set's
options, hashed) and budget unit (params or bytes): runs of different setups never share a
table, let alone a cell. Within a setup, a cell lists the seeds it should have (every seed seen
in the setup) and says which are missing, failed, diverged or unfinished; only complete cells
are ranked, and a cell with a diverged seed is never a number.

A cell is also split by where its hyperparameters came from (`tuning`): `default` (the shared
recipe), `tuned` (a study's best, `tuned=true`) or `custom` (hparams given by hand).
"""
from __future__ import annotations

import json
import math

import pandas as pd
from bench.storage.digest import json_digest

SETUP = ["dataset", "model", "epochs", "recipe", "budget_unit"]
CELL = SETUP + ["method", "method_config", "tuning", "hparams", "ratio", "model_options"]


def short_hash(obj) -> str:
    return json_digest(obj, 6)


def model_options_label(record: dict) -> str:
    """The options that define the model beyond its name, e.g. `hidden=50` (records before models
    were config nodes hold `hidden` alone)."""
    options = record.get("model_options", {"hidden": record["hidden"]} if "hidden" in record else {})
    return " ".join(f"{key}={'-'.join(map(str, value)) if isinstance(value, list) else value}"
                    for key, value in sorted(options.items()))


def run_row(record: dict) -> dict:
    """The fields of one record that place it in a cell, and its figures."""
    config = record.get("config", {})
    recipe = {"train": {k: v for k, v in config.get("train", {}).items() if k != "epochs"},
              "dataset": config.get("dataset")}
    complete = record.get("status") == "complete"
    hparams = record.get("hparams") or {}
    tuning = "tuned" if record.get("hparams_source") else "custom" if hparams else "default"
    return {
        "dataset": record.get("dataset"), "model": record.get("model"), "epochs": record.get("epochs_budget"),
        "recipe": short_hash(recipe), "budget_unit": record.get("budget_unit", "params"),  # older records: params
        "method": record.get("method"), "method_config": short_hash(config.get("method")),
        "tuning": tuning, "hparams": json.dumps(hparams, sort_keys=True),
        "hparams_source": json.dumps(record.get("hparams_source"), sort_keys=True) if tuning == "tuned" else "",
        "ratio": record.get("ratio"), "model_options": model_options_label(record),
        "compression_factor": record.get("compression_factor"), "seed": record.get("seed"),
        "status": record.get("status", "unknown"),
        "test_error_pct": 100 * record["test_error"] if complete else math.nan,
        "params_stored": record.get("params_stored") if complete else math.nan,
        "params_budget": record.get("params_budget") if complete else math.nan,
        "bytes_on_disk": record.get("bytes_on_disk") if complete else math.nan,
        "bytes_budget": record.get("bytes_budget", math.nan) if complete else math.nan,
    }


def summarize_cell(runs: pd.DataFrame, expected_seeds: list) -> dict:
    done = runs[runs["status"] == "complete"]
    # a cell with a diverged seed shows no error at all: its other seeds' mean would flatter the method
    errors = done["test_error_pct"] if not (runs["status"] == "diverged").any() else done["test_error_pct"].iloc[:0]
    seeds_done = sorted(done["seed"].tolist())
    not_done = runs[runs["status"] != "complete"]
    return {
        "compression_factor": runs["compression_factor"].iloc[0],
        "n_seeds": len(done),
        "n_expected": len(expected_seeds),
        "seeds": " ".join(map(str, seeds_done)),
        "missing_seeds": " ".join(str(s) for s in expected_seeds if s not in seeds_done),
        "failed_seeds": _seeds_with(not_done, "failed"),
        "diverged_seeds": _seeds_with(not_done, "diverged"),
        "unfinished_seeds": " ".join(map(str, sorted(not_done[~not_done["status"].isin(["failed", "diverged"])]["seed"]))),
        "n_diverged": int((runs["status"] == "diverged").sum()),
        "hparams_source": runs["hparams_source"].iloc[0],
        "test_error_mean_pct": errors.mean() if len(errors) else math.nan,
        "test_error_std_pct": errors.std(ddof=1) if len(errors) > 1 else math.nan,  # sample std over seeds
        "params_stored": done["params_stored"].max() if len(done) else math.nan,
        "params_budget": done["params_budget"].max() if len(done) else math.nan,
        "bytes_on_disk": done["bytes_on_disk"].mean() if len(done) else math.nan,
        "bytes_budget": done["bytes_budget"].max() if len(done) else math.nan,
    }


def _seeds_with(runs: pd.DataFrame, status: str) -> str:
    return " ".join(map(str, sorted(runs[runs["status"] == status]["seed"])))


def leaderboard_cells(records: list[dict]) -> pd.DataFrame:
    """One row per cell, with labels for the tables, `complete`, `rank` in its column and `best`."""
    runs = pd.DataFrame([run_row(r) for r in records])
    rows = []
    for setup, setup_runs in runs.groupby(SETUP, dropna=False):
        expected = sorted(setup_runs["seed"].unique().tolist())
        for cell, cell_runs in setup_runs.groupby(CELL[len(SETUP):], dropna=False):
            rows.append({**dict(zip(CELL, setup + cell)), **summarize_cell(cell_runs, expected)})
    cells = pd.DataFrame(rows)
    cells["complete"] = (cells["n_seeds"] == cells["n_expected"])
    cells["method_label"] = _method_labels(cells)
    cells["column"] = _column_labels(cells)
    ranked = cells["complete"]
    cells["rank"] = math.nan
    cells.loc[ranked, "rank"] = (cells[ranked].groupby(SETUP + ["column"])["test_error_mean_pct"]
                                 .rank(method="min"))
    cells["best"] = cells["rank"] == 1
    return cells.sort_values(SETUP + ["compression_factor", "rank", "method_label"]).reset_index(drop=True)


def _method_labels(cells: pd.DataFrame) -> pd.Series:
    """The method's name, `(tuned)` or `(custom hp)` unless it has the default recipe, and a config hash
    where one setup has the method with several configs (or one column several hparams of a kind)."""
    variants = cells.groupby(SETUP + ["method"])["method_config"].transform("nunique")
    labels = cells["method"].where(variants == 1, cells["method"] + " [" + cells["method_config"] + "]")
    labels = labels + cells["tuning"].map({"default": "", "tuned": " (tuned)", "custom": " (custom hp)"})
    hparams_hash = cells["hparams"].map(lambda h: short_hash(json.loads(h)))
    several = cells.groupby(SETUP + ["method", "method_config", "tuning", "ratio", "model_options"])["hparams"].transform("nunique")
    return labels.where((several == 1) & (cells["tuning"] != "custom"), labels + " [hp " + hparams_hash + "]")


def _column_labels(cells: pd.DataFrame) -> pd.Series:
    """The ratio; with the model's options where one setup has several (e.g. the inflation experiment's widths)."""
    variants = cells.groupby(SETUP)["model_options"].transform("nunique")
    return cells["ratio"].where(variants == 1, cells["ratio"] + " (" + cells["model_options"] + ")")
