"""The leaderboard report, built from result files with known values."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import wandb

from bench.run.settings import parse_ratio
from bench.run.resume import ATTEMPTS_DIR
from reports import leaderboard
from reports.bytes_frontier import pareto_frontier
from reports.cells import leaderboard_cells
from reports.interactive_charts import curve_chart
from reports.records import compress_records, load_records
from reports.tuning import tuned_section
from wandb_offline import read_run_details

SECTIONS = [tuned_section]

TRAIN = {"epochs": 10, "batch_size": 50, "lr": 0.1, "momentum": 0.9, "lr_decay": 0.95, "weight_decay": 0.0,
         "patience": 10, "dropout_input": 0.25, "dropout_hidden": 0.25}


def record(method, ratio, seed, test_error=None, dataset="mnist", model="mlp3", epochs=10, status="complete",
           task="compress", params_stored=1000, bytes_on_disk=5000, budget_unit=None):
    factor = float(1 / parse_ratio(ratio))
    config = {"method": {"name": method}, "dataset": {"name": dataset}, "model": {"name": model},
              "train": {**TRAIN, "epochs": epochs}, "ratio": ratio, "seed": seed}
    rec = {"task": task, "status": status, "method": method, "ratio": ratio, "compression_factor": factor,
           "dataset": dataset, "model": model, "model_options": {"hidden": [1000]}, "seed": seed, "epochs_budget": epochs,
           "config": config, "config_hash": f"{method}-{ratio}-{seed}-{dataset}-{model}-{epochs}-{task}-{budget_unit}"}
    if budget_unit:  # records written before budget units existed have none: they counted params
        rec["budget_unit"] = budget_unit
    if status == "complete":
        rec.update(dataset_sizes={"train": 1000, "val": 100, "test": 1000}, test_error=test_error, val_error=test_error, params_stored=params_stored,
                   params_budget=params_stored + 10, bytes_on_disk=bytes_on_disk)
        if budget_unit == "bytes":
            rec.update(bytes_budget=bytes_on_disk + 20)
    return rec


def write_records(root: Path, records: list[dict]) -> Path:
    for i, rec in enumerate(records):
        path = root / "runs" / f"{i:04d}" / "result.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(rec))
    return root


KNOWN = [
    # mnist, mlp3, 10 epochs, ratio 1/8: hashednets 1.0/1.2/1.4 % (mean 1.2, std 0.2), nn 2/3/4 % (3.0, 1.0)
    *[record("hashednets", "1/8", s, e) for s, e in [(1, 0.010), (2, 0.012), (3, 0.014)]],
    *[record("nn", "1/8", s, e, params_stored=990, bytes_on_disk=4000) for s, e in [(1, 0.02), (2, 0.03), (3, 0.04)]],
    # ratio 1/64: hashednets has 2 seeds done (3 %, 5 %) and seed 3 failed; nn 5/6/7 %
    record("hashednets", "1/64", 1, 0.03), record("hashednets", "1/64", 2, 0.05),
    record("hashednets", "1/64", 3, status="failed"),
    *[record("nn", "1/64", s, e) for s, e in [(1, 0.05), (2, 0.06), (3, 0.07)]],
    # other epoch budget, other data set, another task: never in the cells above
    record("hashednets", "1/8", 1, 0.50, epochs=20),
    record("hashednets", "1/8", 1, 0.02, dataset="mnist5k"),
    {"task": "theory", "status": "complete", "config_hash": "theory-1", "kind": "kernel"},
]


def cell(cells, method, ratio, dataset="mnist", epochs=10):
    row = cells[(cells["method"] == method) & (cells["ratio"] == ratio) & (cells["dataset"] == dataset)
                & (cells["epochs"] == epochs)]
    assert len(row) == 1
    return row.iloc[0]


def test_cells_have_known_means_stds_seeds_and_ranks():
    cells = leaderboard_cells(compress_records(KNOWN))
    hashed = cell(cells, "hashednets", "1/8")
    assert hashed["n_seeds"] == 3 and hashed["complete"]
    assert hashed["test_error_mean_pct"] == pytest.approx(1.2)
    assert hashed["test_error_std_pct"] == pytest.approx(0.2)  # sample std (n - 1)
    assert hashed["rank"] == 1 and hashed["best"]
    nn = cell(cells, "nn", "1/8")
    assert nn["test_error_mean_pct"] == pytest.approx(3.0) and nn["test_error_std_pct"] == pytest.approx(1.0)
    assert nn["rank"] == 2 and not nn["best"]
    assert (nn["params_stored"], nn["bytes_on_disk"]) == (990, 4000)


def test_a_cell_with_fewer_seeds_is_marked_and_still_ranked_on_the_seeds_it_has():
    cells = leaderboard_cells(compress_records(KNOWN))
    hashed = cell(cells, "hashednets", "1/64")  # seeds 1-2 done, 3 failed; nn has 1-3
    assert hashed["fewer_seeds"] and not hashed["complete"] and hashed["ranked"]
    assert (hashed["n_seeds"], hashed["n_expected"], hashed["failed_seeds"], hashed["missing_seeds"]) == (2, 3, "3", "3")
    assert hashed["test_error_mean_pct"] == pytest.approx(4.0)
    assert hashed["test_error_std_pct"] == pytest.approx(math.sqrt(2))
    assert hashed["rank"] == 1 and hashed["best"]  # ranked on the seeds it has
    nn = cell(cells, "nn", "1/64")
    assert nn["rank"] == 2 and not nn["fewer_seeds"]


def test_extra_seeds_in_one_cell_never_unrank_the_others():
    """Seed 3 added to one cell of seeds 1-2 once marked every other cell incomplete and unranked them all."""
    runs = [record(method, ratio, seed, error + (0.01 if ratio == "1/64" else 0))
            for method, error in [("pruning", 0.050), ("hashednets", 0.058), ("lowrank", 0.080)]
            for ratio in ("1/8", "1/64") for seed in (1, 2)] + [record("lowrank", "1/64", 3, 0.09)]
    cells = leaderboard_cells(compress_records(runs))
    assert cells["ranked"].all() and not cells["fewer_seeds"].any()
    for ratio in ("1/8", "1/64"):
        assert [cell(cells, m, ratio)["rank"] for m in ("pruning", "hashednets", "lowrank")] == [1, 2, 3]
    assert cell(cells, "lowrank", "1/64")["n_seeds"] == 3 and cell(cells, "pruning", "1/64")["n_expected"] == 2


def test_setups_are_never_mixed():
    cells = leaderboard_cells(compress_records(KNOWN))
    assert cell(cells, "hashednets", "1/8", epochs=20)["test_error_mean_pct"] == pytest.approx(50.0)
    assert cell(cells, "hashednets", "1/8", dataset="mnist5k")["n_seeds"] == 1
    assert set(cells["dataset"]) == {"mnist", "mnist5k"}  # the theory record is not a compression cell


def test_budget_units_never_share_a_setup(tmp_path):
    in_bytes = [record("hashednets", "1/8", s, e, budget_unit="bytes", bytes_on_disk=4900)
                for s, e in [(1, 0.011), (2, 0.013)]]
    cells = leaderboard_cells(compress_records(KNOWN[:6] + in_bytes))
    by_unit = cells[(cells["method"] == "hashednets") & (cells["ratio"] == "1/8")].set_index("budget_unit")
    assert by_unit.loc["params", "n_seeds"] == 3 and by_unit.loc["bytes", "n_seeds"] == 2
    assert by_unit.loc["bytes", "test_error_mean_pct"] == pytest.approx(1.2)
    assert by_unit.loc["bytes", "rank"] == 1  # alone in its column: nn ran in params only
    markdown = leaderboard.write_report(KNOWN[:6] + in_bytes, tmp_path / "report",
                                        section_builders=[])["markdown"].read_text()
    bytes_part = markdown.split("· budget in bytes\n")[1].split("\n## ")[0]  # the section under the setup's title
    params_part = markdown.split("· budget in params\n")[1].split("\n## ")[0]
    assert "4.9 of 4.9 kB; 1,000 params" in bytes_part and "nn" not in bytes_part
    assert "paper" not in bytes_part and "paper: hashednets" in params_part  # the paper counts parameters
    assert "Pareto frontier of test error against bytes on disk (cells with a number, fewest bytes first): " \
           "hashednets 1/8 (4.9 kB, 1.20%)." in bytes_part


def test_pareto_frontier_keeps_the_cells_nothing_beats_on_bytes_and_error():
    cells = pd.DataFrame({"bytes_on_disk": [100, 200, 200, 300, 400, 50, 500],
                          "test_error_mean_pct": [5.0, 4.0, 3.0, 3.0, 1.0, math.nan, 1.0]},
                         index=list("abcdefg"))
    # b loses to c (same bytes, more error), d to c (more bytes, same error), g to e; f has no error
    assert list(pareto_frontier(cells).index) == ["a", "c", "e"]


def test_records_under_attempts_and_duplicates_are_left_out(tmp_path):
    write_records(tmp_path / "a", KNOWN[:3])
    write_records(tmp_path / "b", KNOWN[:1])  # the same experiment found twice counts once
    old = tmp_path / "a" / "runs" / "0000" / ATTEMPTS_DIR / "1" / "result.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps(record("hashednets", "1/8", 9, 0.9)))
    records = load_records([tmp_path / "a", tmp_path / "b"])
    assert sorted(r["seed"] for r in records) == [1, 2, 3]


def fake_theory_section(records, out_dir):
    """Stands in for another task's report: it sees every record and writes its figure under out_dir."""
    figure = out_dir / "theory" / "kernel.png"
    figure.parent.mkdir(parents=True, exist_ok=True)
    figure.write_bytes(b"\x89PNG fake")
    kinds = [r["kind"] for r in records if r.get("task") == "theory"]
    return [{"title": "Theory: kernels", "markdown": f"theory records: {kinds}", "figures": [figure]}]


def test_report_files_html_images_and_extra_sections(tmp_path):
    out = tmp_path / "report"
    written = leaderboard.write_report(KNOWN, out, section_builders=[fake_theory_section])
    markdown = written["markdown"].read_text()
    assert "| hashednets | **1.20 ± 0.20** (n=3) best |" in markdown
    assert "**4.00 ± 1.41** (n=2) best ⚠ fewer seeds than its column's others (2 of 3; lacks 3; failed: 3)" in markdown
    assert "## Theory: kernels" in markdown and "theory records: ['kernel']" in markdown
    # the paper's MNIST figures sit beside mnist runs only, never beside mnist5k
    mnist_part = markdown.split("## mnist · mlp3 · 10 epochs")[1].split("## ")[0]
    mnist5k_part = markdown.split("## mnist5k · mlp3")[1].split("## ")[0]
    assert "| paper: hashednets | 1.45 (paper) | 2.79 (paper) |" in mnist_part
    assert "paper:" not in mnist5k_part and "mnist5k is not the paper's MNIST" in mnist5k_part
    assert "Table 1" in markdown  # the source of the figures
    page = written["html"].read_text()
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    pngs = re.findall(r'<a class="png" href="([^"]+)"', page)  # beside each interactive chart
    assert len(pngs) == 3 * 2 and len(images) == 1  # a curve and a bytes frontier per setup; the extra section's figure
    assert all((out / src).is_file() for src in images + pngs)
    assert "Theory: kernels" in page and "<table>" in page
    csv = written["csv"].read_text().splitlines()
    assert len(csv) == 1 + 6  # header + one row per cell


def test_html_page_is_interactive_offline_with_a_table_of_contents(tmp_path):
    page = leaderboard.write_report(KNOWN, tmp_path / "report", section_builders=[])["html"].read_text()
    assert "<script src" not in page and "cdn" not in page.lower().split("<body>")[1]  # plotly.js inlined
    assert page.count("Plotly.newPlot(") == 3 * 2  # each setup's curve and bytes frontier
    sections = re.findall(r'<h2 id="(section-\d+)">', page)
    toc = re.findall(r'<nav class="toc">.*?</nav>', page, re.S)[0]
    # the verdicts, 3 setups, the sources, the commands
    assert len(sections) == 6 and re.findall(r'href="#(section-\d+)"', toc) == sections
    # hovering a point shows its cell's figures (plotly's JSON writes "<" and "±" as escapes)
    assert "test error 1.20 \\u00b1 0.20 %" in page and "3 seeds" in page


def test_chart_strings_from_records_are_escaped():
    cells = leaderboard.titled_cells([record("x</script><b>bad</b>", "1/8", s, 0.01) for s in (1, 2)])
    chart = curve_chart(cells, cells.iloc[:0].assign(test_error_pct=[]), "a <i>title</i>")
    shown = re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), chart)  # plotly's JSON escapes
    assert "<b>bad" not in shown and "<i>title" not in shown
    assert "x&lt;/script&gt;&lt;b&gt;bad" in shown and "a &lt;i&gt;title" in shown


def test_cli_refuses_to_overwrite_and_missing_folders(tmp_path, capsys):
    results = write_records(tmp_path / "results", KNOWN)
    out = tmp_path / "report"
    assert leaderboard.main([str(results), "--out", str(out)]) == 0
    assert leaderboard.main([str(results), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert leaderboard.main([str(results), "--out", str(out), "--overwrite"]) == 0
    assert leaderboard.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "r2")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_each_sweeps_curves_logged_to_wandb_inside_its_group(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    swept = [{**r, "loggers": {"wandb": {"group": "method x ratio | curve_1"}}} for r in KNOWN[:6]]
    written = leaderboard.write_report(swept + KNOWN[6:12], tmp_path / "report", section_builders=[],
                                       wandb_project="compression-bench-test", wandb_mode="offline")
    wandb.teardown()  # the service writes the runs' logs in the background: wait for them
    runs = sorted((tmp_path / "report" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and sorted(written["wandb"]) == sorted(str(run / "files") for run in runs)
    details = [read_run_details(next(run.glob("*.wandb"))) for run in runs]  # the run's log, for `wandb sync`
    assert sorted(d["group"] for d in details) == ["", "method x ratio | curve_1"]
    assert {d["job_type"] for d in details} == {"leaderboard"}


def test_tuned_cells_are_labelled_mixed_columns_warned_and_hyperparameters_reported(tmp_path):
    source = {"study": "hashednets-mnist-mlp3-r1_8-abc", "trial": 7, "val_error": 0.011, "finished_trials": 20}
    tuned = [{**record("hashednets", "1/8", s, e), "hparams": {"train": {"lr": 0.031}}, "hparams_source": source}
             for s, e in [(1, 0.010), (2, 0.012), (3, 0.014)]]
    default = [record("nn", "1/8", s, e) for s, e in [(1, 0.02), (2, 0.03), (3, 0.04)]]
    trial = {**record("hashednets", "1/8", 0, None), "evaluate_test": False, "config_hash": "trial-0"}
    written = leaderboard.write_report(tuned + default + [trial], tmp_path / "report", section_builders=SECTIONS)
    markdown = written["markdown"].read_text()
    assert "| hashednets (tuned) | **1.20 ± 0.20** (n=3) best |" in markdown
    assert "| nn | 3.00 ± 1.00 (n=3) worse†: +1.80 [+0.10, +3.50] |" in markdown
    assert "⚠ Columns 1/8 mix tuned and default-recipe cells" in markdown
    assert "| mnist | mlp3 | hashednets | 1/8 | hashednets-mnist-mlp3-r1_8-abc #7 | 1.10 | 20 | train.lr=0.031 |" \
        in markdown
    cells = pd.read_csv(written["csv"])
    row = cells[cells["method"] == "hashednets"].iloc[0]
    assert (row["tuning"], json.loads(row["hparams"]), json.loads(row["hparams_source"])["trial"]) == \
        ("tuned", {"train": {"lr": 0.031}}, 7)
    assert row["n_seeds"] == 3  # the tuning trial (no test error by design) is not a seed of the cell
