#!/usr/bin/env bash
# Claiming and ingest on each store backend, side by side in one run, release build, loopback:
#
# - ClaimNext: READERS concurrent readers (`granska load run`, claim + submit in a loop)
#   over EXAMS queued exams (`granska load seed`), for SECONDS, on SQLite (one replica),
#   PostgreSQL with one replica and PostgreSQL with three replicas (readers spread round
#   robin); client-side p50/p99 of Worklist.ClaimNext and SubmitRead.
# - Ingest: `granska push` of INGEST full-size phantom exams to one replica of each backend
#   (scoring running meanwhile), MB/s.
#
# PostgreSQL is Debian's (initdb/pg_ctl in a temporary directory, fsync on, as `nobody` under
# root); `bash scripts/setup.sh --test` installs it.
#
#   bash benches/replicas.sh [EXAMS] [READERS] [SECONDS] [INGEST]   (default 100000 50 20 10)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh --test
set +u
exams="${1:-100000}"; readers="${2:-50}"; seconds="${3:-20}"; ingest="${4:-10}"
cargo build --release --bin granska
g=$(realpath "${CARGO_TARGET_DIR:-target}")/release/granska
work=$(mktemp -d)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as=()
if [[ $(id -u) -eq 0 ]]; then chown 65534:65534 "$work"; chmod 755 "$work"; as=(setpriv --reuid=65534 --regid=65534 --clear-groups --); fi
servers=()
cleanup() {
  for p in "${servers[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  "${as[@]}" "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "machine: $(nproc) cores, $(uname -m); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "postgres: $("$pgbin/postgres" --version); fsync on"
pgport=$(free_port)
"${as[@]}" "$pgbin/initdb" -D "$work/pg" -U granska --auth=trust -E UTF8 --no-locale >/dev/null
"${as[@]}" "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $pgport -c listen_addresses=127.0.0.1 -k $work -c max_connections=400 -c shared_buffers=256MB" start >/dev/null

# Tokens: one PACS, one admin, READERS radiologists; the config entries and the load driver's file.
mkdir -p "$work/conf"
{ echo "[ingest]"; echo "quiet_period_s = 30"; echo; } > "$work/conf/granska.toml"
: > "$work/conf/tokens.toml"
make_token() { # principal role
  local out entry
  out=$("$g" token --principal "$1" --role "$2" 2>"$work/conf/entry")
  entry=$(sed -n '/add to the server/,$p' "$work/conf/entry" | tail -n +2)
  printf '%s\n\n' "$entry" >> "$work/conf/granska.toml"
  printf '[[tokens]]\nprincipal = "%s"\nrole = "%s"\ntoken = "%s"\n\n' "$1" "$2" "$out" >> "$work/conf/tokens.toml"
}
make_token pacs pacs
make_token admin admin
for i in $(seq -w 1 "$readers"); do make_token "dr-$i" radiologist; done

# start_replica NAME DATA_DIR [ENV=VALUE…]: sets $url to its gRPC URL once it serves (not run
# in $(…): the server would hold the substitution's pipe open).
start_replica() {
  local name=$1 data=$2; shift 2
  local port; port=$(free_port)
  env "$@" GRANSKA__SERVER__DATA_DIR="$data" GRANSKA__SERVER__LISTEN="127.0.0.1:$port" GRANSKA__SERVER__METRICS_LISTEN= \
    GRANSKA__DICOM__LISTEN= GRANSKA__HTTP__LISTEN= GRANSKA__SERVER__REPLICA_ID="$name" NO_COLOR=1 \
    "$g" serve --config "$work/conf/granska.toml" > /dev/null 2> "$work/$name.log" &
  servers+=($!)
  for _ in $(seq 300); do grep -q "granska serving" "$work/$name.log" && break; sleep 0.2; done
  grep -q "granska serving" "$work/$name.log" || { cat "$work/$name.log" >&2; exit 1; }
  url="http://127.0.0.1:$port"
}
stop_replicas() { for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; servers=(); }

# claim_case LABEL REPLICAS BACKEND_ENV…
claim_case() {
  local label=$1 n=$2; shift 2
  local data="$work/$label-data"
  env "$@" GRANSKA__SERVER__DATA_DIR="$data" "$g" load seed --config "$work/conf/granska.toml" --exams "$exams" 2>&1 | tail -1
  local urls=() i
  for i in $(seq 1 "$n"); do start_replica "$label-$i" "$data" "$@"; urls+=(--server "$url"); done
  "$g" load run "${urls[@]}" --tokens "$work/conf/tokens.toml" --uploaders 0 --readers "$readers" \
    --seconds "$seconds" --json-out "$work/$label.json" > /dev/null
  stop_replicas
  python3 - "$label" "$work/$label.json" <<'EOF'
import json, sys
label, r = sys.argv[1], json.load(open(sys.argv[2]))
c, s = r["ops"]["claim_next"], r["ops"].get("submit_read", {})
errors = sum(r["errors"].values())
print(f"{label:<22} ClaimNext p50 {c['p50_ms']:6.2f} ms  p99 {c['p99_ms']:7.2f} ms  {c['per_s']:7.0f}/s   "
      f"SubmitRead p50 {s.get('p50_ms', float('nan')):6.2f} ms  p99 {s.get('p99_ms', float('nan')):7.2f} ms   errors {errors}")
EOF
}

# ingest_case LABEL BACKEND_ENV…
ingest_case() {
  local label=$1; shift
  start_replica "$label-ingest" "$work/$label-ingest-data" "$@"
  local bytes start end
  bytes=$(du -sb "$work/exams" | cut -f1)
  start=$(date +%s.%N)
  "$g" push --server "$url" --token "$(sed -n '/role = "pacs"/{n;s/token = "\(.*\)"/\1/p}' "$work/conf/tokens.toml")" "$work/exams" > /dev/null
  end=$(date +%s.%N)
  stop_replicas
  python3 -c "import sys; b,s,e=map(float,sys.argv[1:4]); print(f'{sys.argv[4]:<22} ingest {b/(e-s)/1e6:6.1f} MB/s ({b/1e6:.0f} MB in {e-s:.1f} s)')" "$bytes" "$start" "$end" "$label"
}

pg() { "${as[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U granska "$1"; echo "postgres://granska@127.0.0.1:$pgport/$1"; }

echo "ClaimNext with $readers readers over $exams queued exams, $seconds s each:"
claim_case sqlite-1-replica 1 GRANSKA__STORE__BACKEND=sqlite
claim_case postgres-1-replica 1 GRANSKA__STORE__BACKEND=postgres GRANSKA__STORE__URL="$(pg claim1)"
claim_case postgres-3-replicas 3 GRANSKA__STORE__BACKEND=postgres GRANSKA__STORE__URL="$(pg claim3)"

"$g" phantom --out "$work/exams" --studies "$ingest" --seed 7 --size full > /dev/null
echo "Ingest of $ingest full-size exams by gRPC push, one replica:"
ingest_case sqlite GRANSKA__STORE__BACKEND=sqlite
ingest_case postgres GRANSKA__STORE__BACKEND=postgres GRANSKA__STORE__URL="$(pg ingest)"
