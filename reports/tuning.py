"""Report section: the hyperparameters each tuned cell used, and the study they came from."""
from __future__ import annotations

from pathlib import Path

from bench.training.hparams import flat
from reports.records import compress_records
from reports.tables import markdown_table


def tuned_section(records: list[dict], out_dir: Path) -> list[dict]:
    """One row per tuned cell (final runs with `tuned=true`), whatever its seeds."""
    cells = {}
    for r in compress_records(records):
        source = r.get("hparams_source")
        if source:
            cells[(r["dataset"], r["model"], r["method"], r["ratio"], source["study"])] = (r, source)
    if not cells:
        return []
    rows = [[dataset, model, method, ratio, f"{source['study']} #{source['trial']}", f"{100 * source['val_error']:.2f}",
             str(source["finished_trials"]), ", ".join(f"{k}={_short(v)}" for k, v in flat(r["hparams"]).items())]
            for (dataset, model, method, ratio, _), (r, source) in sorted(cells.items())]
    text = ("Each tuned cell trains with the best trial of its own study (Optuna TPE on validation error, the "
            "tuning seed; trials never read the test set).\n\n"
            + markdown_table(["data set", "model", "method", "ratio", "study #trial", "val error (%)", "trials",
                              "hyperparameters"], rows))
    return [{"title": "Tuned hyperparameters", "markdown": text, "figures": []}]


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
