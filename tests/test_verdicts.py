"""Verdicts with ties: paired tests of each cell against its column's best, from per-example predictions files."""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.storage.predictions import PREDICTIONS_FILE, read_test_predictions, write_test_predictions
from bench.run.provenance import git_commit
from bench.storage.state_files import UnreadableStateFile, file_sha256
from reports import leaderboard
from reports.cells import leaderboard_cells
from reports.curves import cell_style
from reports.interactive_charts import curve_chart
from reports.records import load_records
from reports.report_origin import folded_commands
from reports.verdict_words import column_sentences
from reports.verdicts import FALLBACK, PAIRED, VerdictOptions, add_verdicts
from test_leaderboard import record

N = 1000
LABELS = np.arange(N) % 10


def final_run(root: Path, method: str, seed: int, wrong: np.ndarray, ratio="1/8", **fields) -> dict:
    """A complete run's record and predictions file: it gets the examples in `wrong` wrong."""
    predicted = np.where(wrong, (LABELS + 1) % 10, LABELS)
    run_dir = root / f"{method}-{ratio}-{seed}-{fields.get('tuned', '')}"
    run_dir.mkdir(parents=True)
    rec = {**record(method, ratio, seed, int(wrong.sum()) / N, dataset="mnist5k"), **fields,
           "test_predictions_sha256": write_test_predictions(run_dir, predicted, LABELS)}
    (run_dir / "result.json").write_text(json.dumps(rec))
    return {**rec, "record_path": str(run_dir / "result.json")}


def mistakes(rate: float, seed: int, base: np.ndarray | None = None) -> np.ndarray:
    """Mistakes on a random `rate` of the examples, or on `base` plus a few more."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(N) < rate
    return wrong if base is None else base | wrong


def verdicts(records, **options):
    return add_verdicts(leaderboard_cells(records), records, VerdictOptions(**options)).set_index("method")


@pytest.fixture
def three_methods(tmp_path):
    """At 1/8: `best` (about 5% wrong), `close` (about 5.3%), `far` (about 12%), three seeds each."""
    rates = {"best": 0.05, "close": 0.053, "far": 0.12}
    return [final_run(tmp_path, method, seed, mistakes(rate, 10 * seed + i))
            for i, (method, rate) in enumerate(rates.items()) for seed in (1, 2, 3)]


def test_a_small_gap_is_a_tie_and_a_large_one_is_worse(three_methods):
    cells = verdicts(three_methods)
    assert cells.loc["best", "verdict"] == "best" and cells.loc["best", "tied_first"]
    assert cells.loc["close", "verdict"] == "tied" and cells.loc["close", "tied_first"]
    assert cells.loc["far", "verdict"] == "worse" and not cells.loc["far", "tied_first"]
    for method in ("close", "far"):
        row = cells.loc[method]
        assert row["test"] == PAIRED and row["diff_low_pct"] < row["diff_pct"] < row["diff_high_pct"]
        assert row["diff_pct"] == pytest.approx(row["test_error_mean_pct"] - cells.loc["best", "test_error_mean_pct"])
    assert cells.loc["close", "diff_low_pct"] < 0 < cells.loc["far", "diff_low_pct"]
    others = cells.drop(index="best")
    assert ((others["verdict"] == "worse") == (others["diff_low_pct"] > 0)).all()  # worse: the interval above 0


def test_the_verdict_is_said_in_words_and_marked_in_the_table(three_methods, tmp_path):
    cells = add_verdicts(leaderboard_cells(three_methods), three_methods)
    assert column_sentences(cells, "mnist5k · mlp3") == \
        "- At 1/8 on mnist5k · mlp3: best (best) and close are tied for first; far is worse."
    markdown = leaderboard.write_report(three_methods, tmp_path / "report", section_builders=[])["markdown"].read_text()
    close = cells[cells["method"] == "close"].iloc[0]
    assert (f"| close | **{close['test_error_mean_pct']:.2f} ± {close['test_error_std_pct']:.2f}** (n=3) tied: "
            f"{close['diff_pct']:+.2f} [{close['diff_low_pct']:+.2f}, {close['diff_high_pct']:+.2f}] |") in markdown
    assert "best (best) and close are tied for first; far is worse" in markdown.split("## Verdicts")[1]


def test_pairing_on_the_same_examples_sees_what_an_unpaired_test_cannot(tmp_path):
    """`plus` gets every example `base` gets wrong and 1% more, on every seed: a real, consistent gap of one
    point that the paired test finds, while the unpaired one (the fallback) drowns it in the examples' noise."""
    base = mistakes(0.05, 0)
    runs = [final_run(tmp_path, "base", s, base) for s in (1, 2, 3)]
    extra = np.zeros(N, bool)
    extra[np.flatnonzero(~base)[::95][:10]] = True  # 10 more examples: exactly one point
    runs += [final_run(tmp_path, "plus", s, base | extra) for s in (1, 2, 3)]
    paired = verdicts(runs).loc["plus"]
    assert paired["diff_pct"] == pytest.approx(1.0) and paired["test"] == PAIRED and paired["verdict"] == "worse"
    for run in runs:
        Path(run["record_path"]).with_name(PREDICTIONS_FILE).unlink()
    unpaired = verdicts(runs).loc["plus"]
    assert unpaired["test"] == FALLBACK and unpaired["verdict"] == "tied"


def test_verdicts_are_the_same_for_a_bootstrap_seed_and_the_confidence_sets_the_width(three_methods):
    first, again, other = verdicts(three_methods), verdicts(three_methods), verdicts(three_methods, seed=7)
    columns = ["diff_low_pct", "diff_high_pct"]
    assert first[columns].equals(again[columns]) and not first[columns].equals(other[columns])
    narrow, wide = verdicts(three_methods, confidence=0.5), verdicts(three_methods, confidence=0.999)
    width = lambda cells: cells.loc["close", "diff_high_pct"] - cells.loc["close", "diff_low_pct"]  # noqa: E731
    assert width(narrow) < width(first) < width(wide)


def test_damaged_or_missing_predictions_fall_back_to_the_stated_test_with_a_warning(three_methods, tmp_path,
                                                                                   caplog):
    close = next(r for r in three_methods if r["method"] == "close" and r["seed"] == 2)
    Path(close["record_path"]).with_name(PREDICTIONS_FILE).write_bytes(b"not a predictions file")
    far = next(r for r in three_methods if r["method"] == "far" and r["seed"] == 1)
    Path(far["record_path"]).with_name(PREDICTIONS_FILE).unlink()
    with caplog.at_level(logging.WARNING, logger="bench"):
        cells = verdicts(load_records([tmp_path]))
    assert (cells.loc["close", "test"], cells.loc["far", "test"]) == (FALLBACK, FALLBACK)
    assert cells.loc["far", "verdict"] == "worse"  # the records still tell a 7-point gap from noise
    assert "close 1/8 seed 2: its test_predictions.npz is not the one it recorded" in caplog.text
    assert "far 1/8 seed 1: its test_predictions.npz is missing" in caplog.text
    markdown = leaderboard.write_report(load_records([tmp_path]), tmp_path / "report",
                                        section_builders=[])["markdown"].read_text()
    assert "worse†:" in markdown and "compared by the unpaired fallback: close and far" in markdown


def test_a_predictions_file_is_data_checked_against_its_record(tmp_path):
    rec = final_run(tmp_path, "m", 1, mistakes(0.1, 1))
    path = Path(rec["record_path"]).with_name(PREDICTIONS_FILE)
    predicted, label = read_test_predictions(rec)
    assert (label == LABELS).all() and int((predicted != label).sum()) / N == rec["test_error"]

    def refused(data: bytes, **changes) -> str:
        path.write_bytes(data)
        with pytest.raises(UnreadableStateFile) as refusal:
            read_test_predictions({**rec, "test_predictions_sha256": file_sha256(path), **changes})
        return str(refusal.value)

    pickled = io.BytesIO()
    np.savez(pickled, predicted=np.array([{"code": 1}] * N, dtype=object), label=LABELS)
    assert "not a predictions file" in refused(pickled.getvalue())  # never unpickled
    assert "not a predictions file" in refused(b"PK\x03\x04 cut short")
    shapes = io.BytesIO()
    np.savez(shapes, predicted=np.zeros((2, N), np.int64), label=LABELS)
    assert "two integer arrays of one length" in refused(shapes.getvalue())
    honest = io.BytesIO()
    np.savez(honest, predicted=predicted, label=label)
    assert "gives test error" in refused(honest.getvalue(), test_error=0.5)  # not this run's predictions
    assert "names no predictions file" in refused(honest.getvalue(), test_predictions_sha256=None)


def test_tuned_and_default_cells_never_look_alike_in_charts():
    methods = ["hashednets", "nn"]
    styles = {tuning: cell_style("hashednets", tuning, methods) for tuning in ("default", "tuned", "custom")}
    assert len({s[0] for s in styles.values()}) == 3 and len({s[1] for s in styles.values()}) == 3
    source = {"study": "s", "trial": 1, "val_error": 0.01, "finished_trials": 5}
    runs = [record("hashednets", "1/8", s, 0.01) for s in (1, 2)]
    runs += [{**record("hashednets", "1/8", s, 0.02), "hparams": {"train": {"lr": 0.03}}, "hparams_source": source,
              "config_hash": f"tuned-{s}"} for s in (1, 2)]
    no_paper = pd.DataFrame({"method": [], "ratio": [], "test_error_pct": []})
    chart = curve_chart(leaderboard_cells(runs), no_paper, "t").replace(" ", "")
    assert '"symbol":["circle"]' in chart and '"symbol":["diamond"]' in chart
    assert '"dash":"solid"' in chart and '"dash":"dash"' in chart


def test_setups_differing_in_their_recipe_say_how():
    fast = record("nn", "1/8", 1, 0.02)
    slow = {**record("nn", "1/8", 1, 0.03), "config_hash": "slow"}
    slow["config"] = {**slow["config"], "train": {**slow["config"]["train"], "lr": 0.01, "momentum": 0.5}}
    titles = set(leaderboard.titled_cells([fast, slow])["setup_title"])
    assert titles == {"mnist · mlp3 · 10 epochs · budget in params · lr 0.1, momentum 0.9",
                      "mnist · mlp3 · 10 epochs · budget in params · lr 0.01, momentum 0.5"}
    assert set(leaderboard.titled_cells([fast])["setup_title"]) == {"mnist · mlp3 · 10 epochs · budget in params"}


def test_commands_fold_into_the_sweeps_that_ran_them_and_never_into_more():
    grid = [f"python main.py method={m} ratio={r} seed={s}" for m in ("nn", "lowrank") for r in ("1/8", "1/64")
            for s in (1, 2, 10)]
    assert folded_commands(grid) == ["python main.py -m method=lowrank,nn ratio=1/64,1/8 seed=1,2,10"]
    diagonal = ["python main.py a=1 b=1", "python main.py a=2 b=2"]  # not the 2 x 2 grid a=1,2 b=1,2
    assert sorted(folded_commands(diagonal)) == diagonal
    assert folded_commands(["python main.py 'x=a b'"]) == ["python main.py 'x=a b'"]


def test_the_report_states_its_date_commit_and_commands(three_methods, tmp_path):
    runs = [{**r, "git_commit": "abc123", "command": f"python main.py method={r['method']} seed={r['seed']}"}
            for r in three_methods]
    markdown = leaderboard.write_report(runs, tmp_path / "report", section_builders=[])["markdown"].read_text()
    assert "Made 20" in markdown and " UTC by the code at commit " in markdown
    assert f"commit {git_commit() or 'unknown (not a git clone)'}, from 9 runs at commit abc123" in markdown
    assert "    python main.py -m method=best,close,far seed=1,2,3" in markdown


def test_the_leaderboard_command_checks_its_verdict_options(tmp_path, capsys):
    for option, value in [("--confidence", "1.5"), ("--confidence", "x"), ("--resamples", "10"),
                          ("--bootstrap-seed", "-1")]:
        assert leaderboard.main([str(tmp_path), "--out", str(tmp_path / "r"), option, value]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {option} '{value}'") and len(err.splitlines()) == 1
