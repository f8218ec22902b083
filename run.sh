#!/usr/bin/env bash
# The main job: `./run.sh [overrides]` is `python main.py [overrides]` inside the project's
# environment (.venv), which it sets up on first use (install.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")" && pwd)"
"$root/install.sh"
export VIRTUAL_ENV="${BENCH_VENV:-$root/.venv}"
export PATH="$VIRTUAL_ENV/bin:$PATH"
exec python "$root/main.py" "$@"
