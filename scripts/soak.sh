#!/usr/bin/env bash
# Soak with kills: a Granska server under concurrent upload, scoring and reading is SIGKILLed
# at random moments and restarted, CYCLES times; then the run is verified:
#   - every instance the server acknowledged is stored (`granska load verify`),
#   - every successful submit is recorded as a done task,
#   - every exam is routed or listed as needing attention,
#   - the data directory is consistent: blobs match their sha256, no duplicate live tasks,
#     one live routing per exam (`granska check`),
#   - the server's RSS stays bounded (below SOAK_MAX_RSS_MB, default 1500).
#
#   bash scripts/soak.sh CYCLES [CORRUPT_PERCENT]
#
# CORRUPT_PERCENT (default 0) corrupts that share of instances as a hostile PACS would.
# GRANSKA=path uses that binary (the tests use the debug one); otherwise a release build is
# made. SOAK_DIR keeps the run's files (default: a temporary directory, removed on success).
# `scripts/test.sh` runs a short version (5 cycles); the long runs' figures are in the notes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cycles=${1:?usage: scripts/soak.sh CYCLES [CORRUPT_PERCENT]}
corrupt=${2:-0}
source scripts/setup.sh
if [[ -z ${GRANSKA:-} ]]; then
    cargo build --release --locked -p granska
    GRANSKA=$PWD/target/release/granska
fi
source scripts/lib/serve-fixture.sh
work=${SOAK_DIR:-$(mktemp -d)}
readers=4
fixture_init "$work" "$readers"
say() { printf '[soak] %s\n' "$*"; }

# The load driver runs through every kill (it retries what failed), a little longer than the
# cycles take; each cycle lets the server run 2–6 s before the SIGKILL.
seconds=$((cycles * 8 + 10))
fixture_start
rss_start=$(fixture_rss_mb)
"$GRANSKA" load run --server "$SERVER_URL" --tokens "$work/tokens.toml" --uploaders 4 --readers "$readers" \
    --seconds "$seconds" --corrupt-percent "$corrupt" --journal "$work/journal" --json-out "$work/load.json" \
    >"$work/load.log" 2>&1 &
load_pid=$!
rss_max=$rss_start
for ((c = 1; c <= cycles; c++)); do
    sleep "$((2 + RANDOM % 5)).$((RANDOM % 10))"
    rss=$(fixture_rss_mb)
    ((rss > rss_max)) && rss_max=$rss
    fixture_kill KILL
    say "cycle $c/$cycles: SIGKILL (RSS was $rss MB)"
    fixture_start
done
say "cycles done; letting the load driver finish"
wait "$load_pid" || { cat "$work/load.log"; exit 1; }
rss_end=$(fixture_rss_mb)
say "verifying every acknowledgement and submit against the server"
"$GRANSKA" load verify --server "$SERVER_URL" --tokens "$work/tokens.toml" --journal "$work/journal" --wait-s 300 \
    | tee "$work/verify.log"
verified=${PIPESTATUS[0]}
fixture_kill TERM
"$GRANSKA" check --data-dir "$work/data" | tee "$work/check.log"
checked=${PIPESTATUS[0]}
tail -4 "$work/load.log"
max=${SOAK_MAX_RSS_MB:-1500}
say "server RSS MB: start $rss_start, max before a kill $rss_max, end $rss_end (bound $max)"
if ((verified != 0 || checked != 0)); then
    say "FAILED: see $work"
    exit 1
fi
if ((rss_max > max || rss_end > max)); then
    say "FAILED: RSS above $max MB; see $work"
    exit 1
fi
say "$cycles cycles: nothing acknowledged lost, data directory consistent"
[[ -n ${SOAK_DIR:-} ]] || rm -rf "$work"
