#!/usr/bin/env bash
# Load: UPLOADERS concurrent uploaders (one Upload stream per 4-view exam) and READERS
# concurrent readers (ClaimNext + SubmitRead) against a release `granska serve` on a fresh data
# directory for SECONDS. Prints client-side calls, throughput, p50/p99/max latency per call,
# counts, errors by status, and the server's RSS at start, middle and end.
#
#   bash benches/load.sh UPLOADERS READERS SECONDS [CORRUPT_PERCENT]
#
# LOAD_DIR keeps the run's files (server log, load.json, data); by default a temporary
# directory, removed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
uploaders=${1:?usage: benches/load.sh UPLOADERS READERS SECONDS [CORRUPT_PERCENT]}
readers=${2:?}
seconds=${3:?}
corrupt=${4:-0}
source scripts/setup.sh
if [[ -z ${GRANSKA:-} ]]; then
    cargo build --release --locked -p granska
    GRANSKA=$PWD/target/release/granska
fi
source scripts/lib/serve-fixture.sh
work=${LOAD_DIR:-$(mktemp -d)}
fixture_init "$work" "$readers"
fixture_start
echo "load: $uploaders uploaders, $readers readers, $seconds s, $corrupt % corrupt; server pid $SERVER_PID; $(nproc) cores"
"$GRANSKA" load run --server "$SERVER_URL" --tokens "$work/tokens.toml" --uploaders "$uploaders" \
    --readers "$readers" --seconds "$seconds" --corrupt-percent "$corrupt" --server-pid "$SERVER_PID" \
    --json-out "$work/load.json"
fixture_kill TERM
if [[ -n ${LOAD_DIR:-} ]]; then
    echo "report: $work/load.json; server log: $work/server.log"
else
    rm -rf "$work" # the data directory of a long run holds gigabytes
fi
