#!/usr/bin/env bash
# Ingest throughput and routing latency of the service on loopback, release build:
# starts `granska serve` on a fresh data directory, pushes N full-size phantom exams with
# `granska push`, and prints the push throughput (MB/s) and the median time from an exam's
# last stored instance to its routing decision (the worklist entry), from `granska study`.
#
#   bash benches/service-ingest.sh [EXAMS]      (default 20)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exams="${1:-20}"
cargo build --release --bin granska
g=./target/release/granska
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
$g phantom --out "$work/exams" --studies "$exams" --seed 7 --size full --cancer-fraction 0.2 > /dev/null
GRANSKA__SERVER__DATA_DIR="$work/data" GRANSKA__SERVER__LISTEN=127.0.0.1:50151 GRANSKA__SERVER__METRICS_LISTEN= GRANSKA__DICOM__LISTEN= GRANSKA__HTTP__LISTEN= \
  $g serve 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do [ -f "$work/data/tokens.toml" ] && grep -q "granska serving" "$work/serve.log" && break; sleep 0.2; done
client=(--server http://127.0.0.1:50151 --tokens-file "$work/data/tokens.toml")
echo "machine: $(nproc) cores, $(uname -m); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
$g push "${client[@]}" "$work/exams"
# Wait until every exam is on the worklist, then read each exam's timings.
for _ in $(seq 600); do
  n=$($g worklist "${client[@]}" --json --limit 1000 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  [ "$n" -ge "$exams" ] && break; sleep 0.2
done
for uid in $(ls "$work/exams" | grep '^2\.25'); do $g study "${client[@]}" --json "$uid"; done | python3 -c '
import json, sys, statistics
dec = json.JSONDecoder(); text = sys.stdin.read(); i = 0; lat = []
while i < len(text):
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    s, i = dec.raw_decode(text, i)
    last = max(v["received_unix_ms"] for v in s["views"])
    lat.append(s["routing"]["decided_unix_ms"] - last)
print(f"last instance → worklist: median {statistics.median(lat):.0f} ms, min {min(lat)} ms, max {max(lat)} ms over {len(lat)} exams")
'
