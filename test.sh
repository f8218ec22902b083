#!/usr/bin/env bash
# The tests: `./test.sh [pytest options]` runs `python -m pytest -q` inside the project's
# environment (.venv), which it sets up on first use (install.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")" && pwd)"
"$root/install.sh"
export VIRTUAL_ENV="${BENCH_VENV:-$root/.venv}"
export PATH="$VIRTUAL_ENV/bin:$PATH"
cd "$root"
exec python -m pytest -q "$@"
