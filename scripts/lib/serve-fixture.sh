# Shared by scripts/soak.sh and benches/load.sh (sourced): a Granska server on a fresh data
# directory with an admin, a pacs and N radiologist tokens, started and stopped by PID.
#
#   fixture_init WORKDIR READERS     writes WORKDIR/{tokens.toml,granska.toml}, picks a port
#   fixture_start                    starts `granska serve`, waits until it listens
#   fixture_kill [SIGNAL]            stops it (default KILL)
#   fixture_rss_mb                   the server's resident set size, MB
# Needs $GRANSKA (the binary). Sets SERVER_URL, SERVER_PID, FIXTURE_DIR.

fixture_token() { # principal role → appends to tokens.toml and granska.toml
    local err token sha
    err=$(mktemp)
    token=$("$GRANSKA" token --principal "$1" --role "$2" 2>"$err")
    sha=$(sed -n 's/^token_sha256 = "\(.*\)"$/\1/p' "$err")
    rm -f "$err"
    printf '[[tokens]]\nprincipal = "%s"\nrole = "%s"\ntoken = "%s"\n\n' "$1" "$2" "$token" >>"$FIXTURE_DIR/tokens.toml"
    printf '[[auth.tokens]]\nprincipal = "%s"\nrole = "%s"\ntoken_sha256 = "%s"\n\n' "$1" "$2" "$sha" >>"$FIXTURE_DIR/auth.toml"
}

fixture_init() {
    FIXTURE_DIR=$1
    mkdir -p "$FIXTURE_DIR"
    : >"$FIXTURE_DIR/tokens.toml"
    : >"$FIXTURE_DIR/auth.toml"
    chmod 600 "$FIXTURE_DIR/tokens.toml"
    fixture_token admin admin
    fixture_token pacs pacs
    local i
    for ((i = 1; i <= $2; i++)); do fixture_token "reader$i" radiologist; done
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    SERVER_URL="http://127.0.0.1:$port"
    {
        printf '[server]\nlisten = "127.0.0.1:%s"\nmetrics_listen = ""\ndata_dir = "%s"\nmax_connections = 1024\n\n' "$port" "$FIXTURE_DIR/data"
        printf '[ingest]\nquiet_period_s = 3\nmax_uploads = 256\n\n'
        # gRPC only: the DICOM and HTTP listeners' default ports may be taken.
        printf '[dicom]\nlisten = ""\n\n[http]\nlisten = ""\n\n'
        printf '[model]\nthreads = 1\n\n'
        printf '[worklist]\nlease_minutes = 1\n\n'
        cat "$FIXTURE_DIR/auth.toml"
    } >"$FIXTURE_DIR/granska.toml"
}

fixture_start() {
    local log="$FIXTURE_DIR/server.log" before
    before=$(grep -c 'granska serving' "$log" 2>/dev/null || true)
    NO_COLOR=1 "$GRANSKA" serve --config "$FIXTURE_DIR/granska.toml" >>"$log" 2>&1 &
    SERVER_PID=$!
    local waited=0
    until [[ $(grep -c 'granska serving' "$log" 2>/dev/null || true) -gt ${before:-0} ]]; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "granska serve exited during start-up; its log:" >&2
            tail -20 "$log" >&2
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
        ((waited < 1200)) || { echo "granska serve did not start in 120 s" >&2; return 1; }
    done
}

fixture_kill() {
    kill "-${1:-KILL}" "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

fixture_rss_mb() {
    awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0
}
