"""tools/perf/throughput.py runs end to end with tiny settings (its figures are not checked: timings
are never pass/fail)."""
import re
import subprocess
import sys

from conftest import REPO


def test_the_throughput_benchmark_prints_all_three_parts():
    done = subprocess.run(
        [sys.executable, "-m", "tools.perf.throughput", "--dataset", "mnist5k_tiny", "--epochs", "2",
         "--epoch-reps", "1", "--overhead-runs", "2", "--sweep-dataset", "mnist5k_tiny", "--sweep-epochs", "1",
         "--sweep-seeds", "1", "--sweep-methods", "nn"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for row in ("dense", "hashednets 1/8", "dense, denormals kept", "GEMM floor"):
        assert re.search(rf"^   {re.escape(row)} +[\d.]+ s +[\d.]+x floor", out, re.M), row
    assert re.search(r"first run .* overhead +-?[\d.]+ s", out) and re.search(r"run 2 .* overhead +-?[\d.]+ s", out)
    for layout in ("basic", "basic-1", "parallel"):
        assert re.search(rf"^   {layout} .* runs/hour .*x ideal +\(1 of 1 complete\)", out, re.M), layout
