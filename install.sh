#!/usr/bin/env bash
# Sets up the project's environment, `.venv` beside this script (or $BENCH_VENV), and installs
# what is missing (requirements.txt, then this clone itself, editable, with its console commands such as
# `cbench`): the first time a few minutes, afterwards a fraction of a second and silent.
# `./run.sh` and `./test.sh` call it; run it alone to set up without running anything.
set -euo pipefail
root="$(cd "$(dirname "$0")" && pwd)"
venv="${BENCH_VENV:-$root/.venv}"
python="$venv/bin/python"

missing_requirements() {  # prints the requirements whose distribution is not installed in the environment
    "$python" - "$root/requirements.txt" <<'PY'
import importlib.metadata, re, sys
for line in open(sys.argv[1]):
    name = re.split(r"[<>=!~;\[ #]", line.strip(), maxsplit=1)[0]
    if name:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            print(name)
PY
}

project_installed() {  # this clone installed in the environment (pyproject.toml: the console commands)
    "$python" -I -c 'import sys, compression_bench.commands as c; sys.exit(str(c.CLONE) != sys.argv[1])' "$root" 2>/dev/null
}

install_project() {  # editable: the commands run this clone's code, and the clone's folders stay out of site-packages
    project_installed && return 0
    echo "install.sh: installing the harness's commands (cbench, ...) into $venv" >&2
    "$python" -m pip install --no-deps -e "$root" >"$venv/pip-install-project.log" 2>&1 || {
        tail -20 "$venv/pip-install-project.log" >&2
        echo "install.sh: error: pip could not install the project (full log: $venv/pip-install-project.log)" >&2; exit 1; }
}

if [ ! -x "$python" ]; then
    echo "install.sh: creating the project's environment in $venv" >&2
    python3 -m venv "$venv"
fi
missing="$(missing_requirements)"
if [ -z "$missing" ]; then
    install_project
    exit 0
fi

echo "install.sh: installing into $venv: $(echo $missing)  (first use: a few minutes)" >&2
# Unpinned torch/torchvision: pip resolves a matching pair that imports (see requirements.txt).
log="$venv/pip-install.log"
"$python" -m pip install -r "$root/requirements.txt" >"$log" 2>&1 || {
    tail -20 "$log" >&2; echo "install.sh: error: pip could not install requirements.txt (full log: $log)" >&2; exit 1; }
"$python" -c "import torch, torchvision" || {
    echo "install.sh: error: torch and torchvision do not import together in $venv" >&2; exit 1; }
install_project
# Fashion-MNIST from Debian's package (IDX files under /usr/share/datasets/fashion-mnist), best effort:
# without apt-get or root, dataset=fashion_mnist downloads it through torchvision instead.
if [ -d /usr/share/datasets/fashion-mnist ]; then
    :
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get install -y -qq dataset-fashion-mnist || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }; } \
        >/dev/null 2>&1 || echo "install.sh: apt-get could not install dataset-fashion-mnist; dataset=fashion_mnist will try torchvision's download" >&2
else
    echo "install.sh: skipping dataset-fashion-mnist (needs apt-get and root); dataset=fashion_mnist will try torchvision's download" >&2
fi
echo "install.sh: environment ready: $("$python" -c 'import torch, torchvision; print("torch", torch.__version__, "| torchvision", torchvision.__version__)')" >&2
