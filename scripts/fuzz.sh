#!/usr/bin/env bash
# Coverage-guided fuzzing of one target in fuzz/ (cargo-fuzz, libFuzzer, AddressSanitizer):
#
#   scripts/fuzz.sh TARGET SECONDS [LIBFUZZER_ARG...]
#   TARGET: dicom | upload | config | policy | model_toml   (see fuzz/fuzz_targets/*.rs)
#
# Installs cargo-fuzz from crates.io when missing (it needs a nightly toolchain), seeds
# fuzz/corpus/TARGET with fuzz/seed.sh when it is empty, fuzzes for SECONDS on one core, and
# prints the number of executions. A crash leaves its input in fuzz/artifacts/TARGET/; minimise
# it with `cargo +nightly fuzz tmin TARGET FILE` and keep it as a regression input under the
# crate's tests/fuzz-regressions/TARGET/, which the crate's stable test suite replays.
#
# CI does not run this: it needs nightly and takes minutes to hours. Corpora are not committed.
set -euo pipefail

[[ $# -ge 2 ]] || { echo "usage: scripts/fuzz.sh TARGET SECONDS [LIBFUZZER_ARG...]" >&2; exit 2; }
target="$1" seconds="$2"
shift 2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# cmake for the JPEG-LS codec, the venv for seeding, dcmtk.
# shellcheck source=scripts/setup.sh
source scripts/setup.sh --test

rustup toolchain list | grep -q '^nightly' || { echo "fuzzing needs nightly: rustup toolchain install nightly" >&2; exit 1; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

corpus="fuzz/corpus/$target"
if [[ -z "$(find "$corpus" -type f -print -quit 2>/dev/null)" ]]; then
    fuzz/seed.sh "$target"
fi

args=(-max_total_time="$seconds" -print_final_stats=1)
# Room for whole seed views (a few KB each) and mutations that grow them.
[[ "$target" == dicom ]] && args+=(-max_len=262144)

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo +nightly fuzz run "$target" "$corpus" -- "${args[@]}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
echo "fuzz $target: ${execs:-unknown} executions in at most $seconds s, exit status $status"
exit "$status"
