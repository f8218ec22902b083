#!/usr/bin/env bash
# Installs everything the harness and its tests need (see README).
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install -r requirements.txt
# Check the torch/torchvision pair really imports together (a CPU-only torch breaks torchvision).
python -c "import torch, torchvision; print('torch', torch.__version__, '| torchvision', torchvision.__version__)"
# Fashion-MNIST from Debian's package (IDX files under /usr/share/datasets/fashion-mnist), best effort:
# without apt-get or root, dataset=fashion_mnist downloads it through torchvision instead.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y dataset-fashion-mnist || { apt-get update -qq && apt-get install -y dataset-fashion-mnist; } || echo "install.sh: apt-get could not install dataset-fashion-mnist; dataset=fashion_mnist will try torchvision's download"
else
    echo "install.sh: skipping dataset-fashion-mnist (needs apt-get and root); dataset=fashion_mnist will try torchvision's download"
fi
