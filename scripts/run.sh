#!/usr/bin/env bash
# Granska's main job with embedded defaults. Until the scoring service exists (issue 5), the
# main job is: build, generate a synthetic screening data set, and validate every instance.
#
#   bash scripts/run.sh [OUT_DIR] [STUDIES]     (defaults: phantoms/ and 8 exams)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
out="${1:-phantoms}"
studies="${2:-8}"
cargo build --release --bin granska
./target/release/granska phantom --out "$out" --studies "$studies" --seed 1 --cancer-fraction 0.25
./target/release/granska inspect "$out"/*/*.dcm
echo "labels: $out/labels.csv"
