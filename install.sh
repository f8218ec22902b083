#!/usr/bin/env bash
# Installs everything the harness and its tests need (see README).
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install -r requirements.txt
# Check the torch/torchvision pair really imports together (a CPU-only torch breaks torchvision).
python -c "import torch, torchvision; print('torch', torch.__version__, '| torchvision', torchvision.__version__)"
