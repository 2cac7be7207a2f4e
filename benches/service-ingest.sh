#!/usr/bin/env bash
# Ingest throughput and routing latency of the service on loopback, release build:
# starts `granska serve` on a fresh data directory, pushes N full-size phantom exams with
# `granska push`, and prints the push throughput (MB/s) and the median time from an exam's
# last stored instance to its routing decision (the worklist entry), from `granska study`;
# next to it, the disk's own bandwidth for the same files (each written, fsynced and renamed
# into the data directory's file system, as ingest stores an instance), in the same run.
#
#   bash benches/service-ingest.sh [EXAMS]      (default 20)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exams="${1:-20}"
cargo build --release --bin granska
g=$(realpath "${CARGO_TARGET_DIR:-target}")/release/granska
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
$g phantom --out "$work/exams" --studies "$exams" --seed 7 --size full --cancer-fraction 0.2 > /dev/null
GRANSKA__SERVER__DATA_DIR="$work/data" GRANSKA__SERVER__LISTEN=127.0.0.1:50151 GRANSKA__SERVER__METRICS_LISTEN= GRANSKA__DICOM__LISTEN= GRANSKA__HTTP__LISTEN= \
  $g serve 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do [ -f "$work/data/tokens.toml" ] && grep -q "granska serving" "$work/serve.log" && break; sleep 0.2; done
client=(--server http://127.0.0.1:50151 --tokens-file "$work/data/tokens.toml")
echo "machine: $(nproc) cores, $(uname -m); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 - "$work/exams" "$work/data" <<'EOF'
import os, sys, time
src, dst = sys.argv[1], os.path.join(sys.argv[2], "disk-baseline")
os.makedirs(dst, exist_ok=True)
files = sorted(os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs if f.endswith(".dcm"))
blobs = [open(f, "rb").read() for f in files]
start, total = time.perf_counter(), 0
for i, b in enumerate(blobs):
    tmp = os.path.join(dst, f"{i}.tmp")
    with open(tmp, "wb") as f:
        f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(dst, f"{i}.dcm"))
    total += len(b)
d = os.open(dst, os.O_RDONLY)
os.fsync(d)
os.close(d)
print(f"disk: write + fsync + rename of the same {len(blobs)} files: {total / (time.perf_counter() - start) / 1e6:.0f} MB/s")
EOF
rm -rf "$work/data/disk-baseline"
$g push "${client[@]}" "$work/exams"
# Wait until every exam is on the worklist, then read each exam's timings.
for uid in $(ls "$work/exams" | grep '^2\.25'); do
  for _ in $(seq 600); do
    $g study "${client[@]}" --json "$uid" | grep -c '"state": "routed"' > /dev/null && break; sleep 0.2
  done
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
