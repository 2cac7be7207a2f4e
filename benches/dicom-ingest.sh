#!/usr/bin/env bash
# DICOM C-STORE ingest next to gRPC push, in one run on loopback, release build: N full-size
# phantom exams sent by dcmtk's storescu (one association per exam, as a PACS forwards a study)
# to one fresh server, and the same exams by `granska push` to another; prints MB/s and exams/s
# of each, and the median time from an exam's last C-STORE to its CAD SR stored at the
# destination (a pynetdicom receiver on loopback; dcmtk's storescu is /usr/bin/storescu, as pynetdicom's
# is first on PATH; the time stamps are the server's received_ms
# and the receiver's clock, the same machine).
#
#   bash benches/dicom-ingest.sh [EXAMS]      (default 20)
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
$g phantom --out "$work/exams" --studies "$exams" --seed 7 --size full --cancer-fraction 0.2 > /dev/null
bytes=$(du -sb "$work/exams" | cut -f1)
receiver=$(free_port)
# The receiver logs each SR with its arrival time (Unix ms).
cat > "$work/receiver.py" <<'EOF'
import json, sys, time
from pynetdicom import AE, evt, StoragePresentationContexts
log = open(sys.argv[2], "a", buffering=1)
def on_store(event):
    ds = event.dataset
    log.write(json.dumps({"study": str(ds.StudyInstanceUID), "at_ms": int(time.time() * 1000)}) + "\n")
    return 0x0000
ae = AE(ae_title="PACS"); ae.supported_contexts = StoragePresentationContexts
ae.start_server(("127.0.0.1", int(sys.argv[1])), block=True, evt_handlers=[(evt.EVT_C_STORE, on_store)])
EOF
"$GRANSKA_PYTHON" "$work/receiver.py" "$receiver" "$work/received.jsonl" & pids+=($!)

start_server() { # NAME RESULTS_DESTINATION → sets GRPC, DICOM
    local name=$1 destination=$2 grpc dicom
    grpc=$(free_port); dicom=$(free_port)
    GRANSKA__SERVER__DATA_DIR="$work/$name" GRANSKA__SERVER__LISTEN=127.0.0.1:$grpc GRANSKA__SERVER__METRICS_LISTEN= \
    GRANSKA__DICOM__LISTEN=127.0.0.1:$dicom GRANSKA__HTTP__LISTEN= GRANSKA__INGEST__QUIET_PERIOD_S=600 \
    GRANSKA__RESULTS__DESTINATION=$destination NO_COLOR=1 $g serve 2> "$work/$name.log" & pids+=($!)
    for _ in $(seq 300); do grep -q "granska serving" "$work/$name.log" 2>/dev/null && break; sleep 0.2; done
    GRPC=http://127.0.0.1:$grpc; DICOM=$dicom
}
wait_routed() { # GRPC TOKENS: until every exam is routed
    local uid
    for uid in $(ls "$work/exams" | grep '^2\.25'); do
        for _ in $(seq 1800); do
            $g study --server "$1" --tokens-file "$2" --json "$uid" 2>/dev/null | grep -q '"state": "routed"' && break
            sleep 0.2
        done
    done
}
now_ms() { date +%s%3N; }
echo "machine: $(nproc) cores, $(uname -m); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "$exams full-size exams, $((bytes / 1000000)) MB"

start_server dimse "PACS@127.0.0.1:$receiver"
t0=$(now_ms)
for d in "$work"/exams/2.25*; do /usr/bin/storescu -aet PACS -aec GRANSKA 127.0.0.1 "$DICOM" "$d"/*.dcm; done
t1=$(now_ms)
dimse_grpc=$GRPC
python3 -c "s=($t1-$t0)/1000; print(f'C-STORE (storescu): {s:.2f} s, {$bytes/1e6/s:.0f} MB/s, {$exams/s:.2f} exams/s')"

wait_routed "$dimse_grpc" "$work/dimse/tokens.toml"
for _ in $(seq 600); do [ "$(wc -l < "$work/received.jsonl" 2>/dev/null || echo 0)" -ge "$exams" ] && break; sleep 0.2; done

# The gRPC run starts once the first server has scored everything (the two do not compete).
start_server grpc ""
t0=$(now_ms)
$g push --server "$GRPC" --tokens-file "$work/grpc/tokens.toml" "$work/exams" > /dev/null
t1=$(now_ms)
python3 -c "s=($t1-$t0)/1000; print(f'gRPC push:           {s:.2f} s, {$bytes/1e6/s:.0f} MB/s, {$exams/s:.2f} exams/s')"
for uid in $(ls "$work/exams" | grep '^2\.25'); do
    $g study --server "$dimse_grpc" --tokens-file "$work/dimse/tokens.toml" --json "$uid"
done | python3 -c '
import json, sys, statistics
received = {}
for line in open(sys.argv[1]):
    r = json.loads(line); received.setdefault(r["study"], r["at_ms"])
dec = json.JSONDecoder(); text = sys.stdin.read(); i = 0; lat = []
while i < len(text):
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    s, i = dec.raw_decode(text, i)
    last = max(v["received_unix_ms"] for v in s["views"])
    if s["study_uid"] in received: lat.append(received[s["study_uid"]] - last)
print(f"last C-STORE → SR stored at the destination: median {statistics.median(lat):.0f} ms, min {min(lat)} ms, max {max(lat)} ms over {len(lat)} exams")
' "$work/received.jsonl"
