"""One bad record never kills the leaderboard: it is skipped with one warning line naming the file and why;
the report is built from the others."""
import json
import random

import pytest

from reports import leaderboard
from reports.records import load_records
from test_leaderboard import KNOWN, record, write_records

GOOD = KNOWN[:6]  # hashednets and nn at 1/8, three seeds each


def without(rec: dict, field: str) -> dict:
    return {key: value for key, value in rec.items() if key != field}


BAD_RECORDS = {
    "random bytes": random.Random(0).randbytes(200) + b"\xff",
    "a JSON list": b"[1, 2, 3]",
    "truncated": json.dumps(record("hashednets", "1/8", 7, 0.01)).encode()[:40],
    "no method": json.dumps(without(record("hashednets", "1/8", 7, 0.01), "method")).encode(),
    "no status": json.dumps(without(record("hashednets", "1/8", 7, 0.01), "status")).encode(),
    "test_error abc": json.dumps(record("hashednets", "1/8", 7, "abc")).encode(),
    "complete without test_error": json.dumps(without(record("hashednets", "1/8", 7, 0.01), "test_error")).encode(),
    "seed a string": json.dumps({**record("hashednets", "1/8", 7, 0.01), "seed": "7"}).encode(),
    "config a list": json.dumps({**record("hashednets", "1/8", 7, 0.01), "config": [1]}).encode(),
    "config_hash a list": json.dumps({**record("hashednets", "1/8", 7, 0.01), "config_hash": [1]}).encode(),
    "hparams_source a string": json.dumps({**record("hashednets", "1/8", 7, 0.01), "hparams_source": "x"}).encode(),
    "a 5,001-digit seed": json.dumps(record("hashednets", "1/8", 7, 0.01)).replace(
        '"seed": 7', '"seed": ' + "9" * 5001).encode(),
    "nesting 100,000 deep": b'{"status": "complete", "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "test_error NaN": json.dumps(record("hashednets", "1/8", 7, float("nan"))).encode(),
    "test_error infinite": json.dumps(record("hashednets", "1/8", 7, float("inf"))).encode(),
    "test_error negative": json.dumps(record("hashednets", "1/8", 7, -0.1)).encode(),
    "test_error above 1": json.dumps(record("hashednets", "1/8", 7, 1.5)).encode(),
}
WHY = {"random bytes": "not JSON", "a JSON list": "a JSON list, not an object", "truncated": "not JSON",
       "no method": "no 'method' field", "no status": "no 'status' field",
       "test_error abc": "'test_error' is 'abc'; expected a number",
       "complete without test_error": "no 'test_error' field", "seed a string": "'seed' is '7'; expected an integer",
       "config a list": "'config' is [1]; expected a JSON object",
       "config_hash a list": "'config_hash' is [1]; expected a string",
       "hparams_source a string": "'hparams_source' is 'x'; expected a JSON object or null",
       "a 5,001-digit seed": "not JSON (ValueError: Exceeds the limit", "nesting 100,000 deep": "not JSON (RecursionError",
       "test_error NaN": "'test_error' is nan; expected a finite number in [0, 1]",
       "test_error infinite": "'test_error' is inf; expected a finite number in [0, 1]",
       "test_error negative": "'test_error' is -0.1; expected a finite number in [0, 1]",
       "test_error above 1": "'test_error' is 1.5; expected a finite number in [0, 1]"}


def results_with(root, bad: bytes):
    write_records(root, GOOD)
    path = root / "runs" / "bad" / "result.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(bad)
    return path


@pytest.mark.parametrize("kind", BAD_RECORDS)
def test_a_bad_record_is_skipped_with_one_warning_naming_it(tmp_path, kind, caplog):
    path = results_with(tmp_path / "results", BAD_RECORDS[kind])
    records = load_records([tmp_path / "results"])
    assert sorted((r["method"], r["seed"]) for r in records) == sorted((r["method"], r["seed"]) for r in GOOD)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and str(path) in warnings[0] and WHY[kind] in warnings[0], warnings
    assert path.read_bytes() == BAD_RECORDS[kind]  # a report only reads: the file is left as it is


def test_the_leaderboard_is_built_from_the_good_records(tmp_path, capsys):
    for kind, bad in BAD_RECORDS.items():
        path = tmp_path / "results" / "runs" / kind.replace(" ", "_") / "result.json"
        path.parent.mkdir(parents=True)
        path.write_bytes(bad)
    write_records(tmp_path / "results", GOOD)
    assert leaderboard.main([str(tmp_path / "results"), "--out", str(tmp_path / "report")]) == 0
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "| hashednets | **1.20 ± 0.20** (n=3) best |" in markdown  # seed 7's bad records count nowhere
    assert f"{len(GOOD)} records ->" in capsys.readouterr().out


def test_out_naming_a_file_is_one_error_line(tmp_path, capsys):
    write_records(tmp_path / "results", GOOD)
    (tmp_path / "taken").write_text("mine")
    assert leaderboard.main([str(tmp_path / "results"), "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and "is a file" in err and err.count("\n") == 1
    assert (tmp_path / "taken").read_text() == "mine"
