#!/usr/bin/env bash
# Retrain granska-phantom-v1 from scratch: builds granska, makes a training virtualenv
# (.venv-train, PyTorch from PyPI), generates the phantoms and runs train.py.
#
#   bash models/granska-phantom-v1/train.sh [--epochs N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/setup.sh
cargo build --release --bin granska
here=models/granska-phantom-v1
if [[ ! -x .venv-train/bin/python ]]; then python3 -m venv .venv-train; fi
.venv-train/bin/python -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
.venv-train/bin/python "$here/train.py" "$@"
