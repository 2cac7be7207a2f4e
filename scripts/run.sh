#!/usr/bin/env bash
# Granska's main job with embedded defaults: builds the release binary and runs the service
# (gRPC on 127.0.0.1:50051, Prometheus metrics on 127.0.0.1:9464, data in granska-data/: SQLite,
# blobs on local disk, the shipped model with ONNX Runtime from the venv's onnxruntime wheel).
# On first start it writes an admin and a pacs token to granska-data/tokens.toml.
# Stop it with ctrl-c. Extra arguments go to `granska serve` (e.g. --config granska.toml).
#
#   bash scripts/run.sh [--config FILE]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
cargo build --release --bin granska
exec ./target/release/granska serve "$@"
