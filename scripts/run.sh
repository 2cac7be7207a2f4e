#!/usr/bin/env bash
# Granska's main job with embedded defaults. Until the scoring service exists (issue 5), the
# main job is: build, generate a synthetic screening data set, validate every instance and
# score every exam with the shipped model (ONNX Runtime from the venv's onnxruntime wheel).
#
#   bash scripts/run.sh [OUT_DIR] [STUDIES]     (defaults: phantoms/ and 8 exams)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
out="${1:-phantoms}"
studies="${2:-8}"
cargo build --release --bin granska
./target/release/granska phantom --out "$out" --studies "$studies" --seed 1 --cancer-fraction 0.25
./target/release/granska inspect "$out"/*/*.dcm > /dev/null
echo "all $(ls "$out"/*/*.dcm | wc -l) instances valid"
./target/release/granska score "$out"
echo "labels: $out/labels.csv"
