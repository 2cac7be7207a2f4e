#!/usr/bin/env bash
# Coverage-guided fuzzing of one target in fuzz/ (cargo-fuzz, libFuzzer, AddressSanitizer):
#
#   scripts/fuzz.sh TARGET SECONDS [LIBFUZZER_ARG...]
#   TARGET: dicom | upload | config | policy | model_toml | dimse | stow   (see fuzz/fuzz_targets/*.rs)
#
# Installs cargo-fuzz from crates.io when missing (it needs a nightly toolchain), seeds
# fuzz/corpus/TARGET with fuzz/seed.sh when it is empty, fuzzes for SECONDS on one core, and
# prints the number of executions. Extra arguments go to libFuzzer: -runs=N, or -fork=1
# -ignore_crashes=1 -ignore_ooms=1 to go on past findings. A crash leaves its input in
# fuzz/artifacts/TARGET/; minimise it with `cargo +nightly fuzz tmin -O TARGET FILE` and keep it
# as a regression input under the crate's tests/fuzz-regressions/TARGET/, which the crate's
# stable test suite replays.
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

# A slow input is a finding too (libFuzzer's default allows 20 minutes).
args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=25)
if [[ "$target" == dicom ]]; then
    # Room for whole seed views (a few KB each) and mutations that grow them. No leak checks:
    # jpeg-decoder's worker threads outlive a decode, and LeakSanitizer reports their
    # thread-locals (112 bytes in std's mpmc context) as leaks.
    args+=(-max_len=262144 -detect_leaks=0)
    # dicom-parser 0.10.1 reserves a value's declared length with try_reserve after a desync
    # the guard misses (granska-dicom's tests/fuzz-regressions/dicom/fl-odd-length-desync.dcm):
    # found within a minute, it would stop every run. Make reservations over 256 MB fail (an
    # error, not a finding) until that is fixed; infallible ones still abort, as a finding.
    export ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1:max_allocation_size_mb=256}"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
# -O: fuzz/Cargo.toml's release profile sets the assertions (see the note there).
cargo +nightly fuzz run -O "$target" "$corpus" -- "${args[@]}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
# With -fork=N (to go on past crashes and OOMs) libFuzzer prints no final stats: take the
# last progress line's count.
[[ -n "$execs" ]] || execs="$(grep -oE '^#[0-9]+: cov' "$log" | tail -1 | tr -dc 0-9)"
echo "fuzz $target: ${execs:-unknown} executions in at most $seconds s, exit status $status"
exit "$status"
