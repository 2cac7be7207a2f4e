#!/usr/bin/env bash
# The reading station's "Read next" → four views drawn, in Debian's Chromium driven by
# Playwright (crates/granska/tests/peers/station.py, scenario "bench"), on loopback, release
# build: N full-size phantom exams (2294 × 1914, 16-bit) are pushed and routed, then one reader
# clicks "Read next" on the worklist N times, waits until the four views are drawn at full
# resolution (body[data-views-drawn="4"]), and submits "no recall". Prints the median and
# every time, and the bytes of the views transferred per exam (Resource Timing transferSize).
#
#   bash benches/station-read-next.sh [EXAMS]      (default 20)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh --test
exams="${1:-20}"
cargo build --release --bin granska
g=$(realpath "${CARGO_TARGET_DIR:-target}")/release/granska
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
token() { # PRINCIPAL ROLE → prints the token; appends its entry to the config
    local out
    out=$("$g" token --principal "$1" --role "$2" 2>"$work/entry")
    sed -n '/^\[\[auth.tokens\]\]/,$p' "$work/entry" >> "$work/granska.toml"
    echo "$out"
}
: > "$work/granska.toml"
reader=$(token reader radiologist)
pacs=$(token pacs pacs)
admin=$(token admin admin)
grpc=$(free_port); http=$(free_port)
GRANSKA__SERVER__DATA_DIR="$work/data" GRANSKA__SERVER__LISTEN="127.0.0.1:$grpc" \
GRANSKA__SERVER__METRICS_LISTEN="127.0.0.1:0" GRANSKA__DICOM__LISTEN="" \
GRANSKA__HTTP__LISTEN="127.0.0.1:$http" \
    "$g" serve --config "$work/granska.toml" 2> "$work/serve.log" & pids+=($!)
for _ in $(seq 100); do grep -q "granska serving" "$work/serve.log" && break; sleep 0.2; done
"$g" phantom --out "$work/exams" --studies "$exams" --seed 11 --size full > /dev/null
"$g" push --server "http://127.0.0.1:$grpc" --token "$pacs" --complete "$work/exams" > /dev/null
for study in "$work"/exams/*/; do
    uid=$(basename "$study")
    until "$g" study --server "http://127.0.0.1:$grpc" --token "$admin" --json "$uid" | grep -c '"state": "routed"' > /dev/null; do
        sleep 0.2
    done
done
echo "== station: Read next → four views drawn, $exams full-size exams, loopback, $(nproc) cores"
echo "   $(chromium --version 2>/dev/null), playwright $("$GRANSKA_PYTHON" -c 'import importlib.metadata as m; print(m.version("playwright"))')"
"$GRANSKA_PYTHON" crates/granska/tests/peers/station.py bench \
    "{\"url\": \"http://127.0.0.1:$http\", \"token\": \"$reader\", \"count\": $exams}" > "$work/bench.json"
"$GRANSKA_PYTHON" - "$work/bench.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
times = ", ".join(f"{t * 1000:.0f}" for t in r["seconds"])
print(f"median {r['median_s'] * 1000:.0f} ms  (all, ms: {times})")
print(f"view bytes per exam (median): {r['bytes_per_exam'] / 1e6:.1f} MB")
if r["errors"]:
    print("page errors:", r["errors"])
EOF
