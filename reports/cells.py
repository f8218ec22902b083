"""From result records to leaderboard cells: one cell per setup, method and ratio, over seeds.

A setup is one data set, model, epoch budget, recipe (the training config and the data set's
options, hashed) and budget unit (params or bytes): runs of different setups never share a
table, let alone a cell. A cell is ranked in its column (setup and ratio) on the complete seeds it
has; one with fewer complete seeds than most cells of its column is marked (`fewer_seeds`, with
the column's other seeds it lacks and which of its own failed or are unfinished), never unranking
the others. A cell with a diverged seed is never a number, and is not ranked.

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


def run_row(record: dict, record_index: int | None = None) -> dict:
    """The fields of one record that place it in a cell, and its figures."""
    config = record.get("config", {})
    recipe = {"train": {k: v for k, v in config.get("train", {}).items() if k != "epochs"},
              "dataset": config.get("dataset")}
    complete = record.get("status") == "complete"
    hparams = record.get("hparams") or {}
    tuning = "tuned" if record.get("hparams_source") else "custom" if hparams else "default"
    return {
        "dataset": record.get("dataset"), "model": record.get("model"), "epochs": record.get("epochs_budget"),
        "recipe": short_hash(recipe), "recipe_detail": json.dumps(recipe, sort_keys=True),
        "budget_unit": record.get("budget_unit", "params"),  # older records: params
        "method": record.get("method"), "method_config": short_hash(config.get("method")),
        "tuning": tuning, "hparams": json.dumps(hparams, sort_keys=True),
        "hparams_source": json.dumps(record.get("hparams_source"), sort_keys=True) if tuning == "tuned" else "",
        "ratio": record.get("ratio"), "model_options": model_options_label(record),
        "compression_factor": record.get("compression_factor"), "seed": record.get("seed"),
        "status": record.get("status", "unknown"), "record_index": record_index,
        "test_error_pct": 100 * record["test_error"] if complete else math.nan,
        "params_stored": record.get("params_stored") if complete else math.nan,
        "params_budget": record.get("params_budget") if complete else math.nan,
        "bytes_on_disk": record.get("bytes_on_disk") if complete else math.nan,
        "bytes_budget": record.get("bytes_budget", math.nan) if complete else math.nan,
    }


def summarize_cell(runs: pd.DataFrame) -> dict:
    done = runs[runs["status"] == "complete"].sort_values("seed")
    # a cell with a diverged seed shows no error at all: its other seeds' mean would flatter the method
    errors = done["test_error_pct"] if not (runs["status"] == "diverged").any() else done["test_error_pct"].iloc[:0]
    not_done = runs[runs["status"] != "complete"]
    return {
        "compression_factor": runs["compression_factor"].iloc[0],
        "n_seeds": len(done),
        "n_runs": len(runs),
        "seeds": " ".join(map(str, done["seed"])),
        "run_records": tuple(done["record_index"]),  # positions of its complete runs in the records list
        "recipe_detail": runs["recipe_detail"].iloc[0],
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
    """One row per cell, with labels for the tables, the seeds its column expects (`n_expected`,
    `missing_seeds`, `fewer_seeds`), `ranked`, `rank` in its column and `best`.

    `run_records` holds the positions in `records` of each cell's complete runs."""
    runs = pd.DataFrame([run_row(r, i) for i, r in enumerate(records)])
    rows = []
    for cell, cell_runs in runs.groupby(CELL, dropna=False):
        rows.append({**dict(zip(CELL, cell)), **summarize_cell(cell_runs)})
    cells = pd.DataFrame(rows)
    cells["method_label"] = _method_labels(cells)
    cells["column"] = _column_labels(cells)
    _mark_fewer_seeds(cells)
    cells["ranked"] = (cells["n_seeds"] > 0) & (cells["n_diverged"] == 0)
    cells["complete"] = cells["ranked"] & ~cells["fewer_seeds"]
    cells["rank"] = math.nan
    ranked = cells["ranked"]
    cells.loc[ranked, "rank"] = (cells[ranked].groupby(SETUP + ["column"])["test_error_mean_pct"]
                                 .rank(method="min"))
    cells["best"] = cells["rank"] == 1
    return cells.sort_values(SETUP + ["compression_factor", "rank", "method_label"]).reset_index(drop=True)


def _mark_fewer_seeds(cells: pd.DataFrame) -> None:
    """`n_expected`: the number of complete seeds most cells of the column have (the larger where two
    counts are as common); `fewer_seeds`: a cell with fewer; `missing_seeds`: its column's seeds it lacks."""
    cells["n_expected"], cells["missing_seeds"] = 0, ""
    for _, column in cells.groupby(SETUP + ["column"], dropna=False):
        counts = column.loc[column["n_seeds"] > 0, "n_seeds"].value_counts()
        expected = max((n for n, times in counts.items() if times == counts.max()), default=0)
        seen = sorted({seed for seeds in column["seeds"] for seed in seeds.split()}, key=int)
        cells.loc[column.index, "n_expected"] = expected
        cells.loc[column.index, "missing_seeds"] = [" ".join(s for s in seen if s not in seeds.split())
                                                    for seeds in column["seeds"]]
    cells["fewer_seeds"] = cells["n_seeds"] < cells["n_expected"]


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
