#!/usr/bin/env bash
# Foundation benchmark: a release `gatehouse serve` on loopback with a fresh data
# dir, one user and one API token, loaded by `loadbench` on two targets:
#   healthz = GET /healthz                     (no auth, no store)
#   details = GET /api/v1/account/details      (Bearer token: token lookup + account read)
# and the ratio of their throughput. Not a test; run by hand.
#
# Environment overrides:
#   PORT         listen port (default: a free port picked by python3, else 18080)
#   CONNECTIONS  concurrent keep-alive connections (default 64)
#   DURATION     measured seconds per target (default 10)
#   WARMUP       warm-up seconds per target, discarded (default 2)
#   THREADS      loadbench tokio worker threads (default: all CPUs)
#   SKIP_BUILD=1 use the existing target/release binaries
#   SERVER_BIN   server binary to run (default target/release/gatehouse)
#   BACKEND      sqlite (default) or postgres: a scratch database on PG_ADMIN_URL
#                (default postgres://postgres@127.0.0.1:5432/postgres), dropped afterwards
set -euo pipefail

cd "$(dirname "$0")/.."

CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
PASSWORD='correct horse battery staple'

if [[ -z "${PORT:-}" ]]; then
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)"
fi

echo "== machine"
echo "cpus (nproc):  $(nproc)"
echo "cpu model:     $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)"
echo "memory:        $(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo 2>/dev/null || echo unknown)"
echo "kernel:        $(uname -sr)"
echo "rustc:         $(rustc --version 2>/dev/null || echo unknown)"
if rev="$(git rev-parse --short HEAD 2>/dev/null)"; then
    git diff --quiet HEAD 2>/dev/null || rev="$rev (uncommitted changes)"
else
    rev=none
fi
echo "git:           $rev"
echo "NOTE: server and load generator run on the same machine and share its $(nproc) cores;"
echo "      absolute req/s is a lower bound for the server alone, compare ratios and runs on one machine."
echo

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "== build"
    cargo build --release -p gatehouse -p loadbench
    echo
fi

GATEHOUSE="${SERVER_BIN:-target/release/gatehouse}"
LOADBENCH=target/release/loadbench
for bin in "$GATEHOUSE" "$LOADBENCH"; do
    [[ -x "$bin" ]] || { echo "missing $bin (run without SKIP_BUILD=1)" >&2; exit 1; }
done

DATA_DIR="$(mktemp -d -t gatehouse-bench.XXXXXX)"
SERVER_LOG="$DATA_DIR/server.log"
SERVER_PID=""
BACKEND="${BACKEND:-sqlite}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB=""

cleanup() {
    local rc=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -s "$SERVER_LOG" ]]; then
        echo "== last server log lines ($SERVER_LOG)" >&2
        tail -n 30 "$SERVER_LOG" >&2 || true
    fi
    rm -rf "$DATA_DIR"
    if [[ -n "$PG_DB" ]]; then
        psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "$BACKEND" in
    sqlite) ;;
    postgres)
        PG_DB="gh_bench_$$"
        psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null
        # Read by `serve` and by the CLI calls below alike.
        export GATEHOUSE_DATABASE_URL="${PG_ADMIN_URL%/*}/$PG_DB"
        ;;
    *) echo "BACKEND must be sqlite or postgres" >&2; exit 2 ;;
esac

echo "== server"
echo "backend:  $BACKEND${PG_DB:+ (database $PG_DB)}"
echo "data dir: $DATA_DIR"
echo "listen:   127.0.0.1:$PORT"
"$GATEHOUSE" serve --data-dir "$DATA_DIR" --listen "127.0.0.1:$PORT" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 300); do # up to 30 s
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "gatehouse exited before becoming ready" >&2
        exit 1
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/healthz" || true)"
    if [[ "$code" == 200 ]]; then
        ready=1
        break
    fi
    sleep 0.1
done
if [[ $ready != 1 ]]; then
    echo "gatehouse did not answer GET /healthz with 200 within 30 s" >&2
    exit 1
fi
echo "ready: GET /healthz = 200"

USER_ID="$(printf '%s\n' "$PASSWORD" |
    "$GATEHOUSE" user create --data-dir "$DATA_DIR" --username bench --email bench@example.com --password-stdin)"
echo "user bench created: $USER_ID"
TOKEN="$("$GATEHOUSE" token create --data-dir "$DATA_DIR" --user bench --name bench | tr -d '[:space:]')"
if [[ -z "$TOKEN" ]]; then
    echo "token create printed no token" >&2
    exit 1
fi
echo "token created for bench"

# Fail early (with the body) if the token does not work, instead of a run of 401s.
code="$(curl -s -o "$DATA_DIR/details.json" -w '%{http_code}' --max-time 5 \
    -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/account/details" || true)"
if [[ "$code" != 200 ]]; then
    echo "GET /api/v1/account/details with the token returned $code:" >&2
    head -c 500 "$DATA_DIR/details.json" >&2 || true
    echo >&2
    exit 1
fi
echo "check: GET /api/v1/account/details with token = 200"
echo

echo "== load (connections=$CONNECTIONS, warmup=${WARMUP}s, duration=${DURATION}s per target)"
lb_args=(
    --url "http://127.0.0.1:$PORT"
    --connections "$CONNECTIONS"
    --duration-secs "$DURATION"
    --warmup-secs "$WARMUP"
    --target "healthz=/healthz"
    --target "details=/api/v1/account/details@Authorization:Bearer $TOKEN"
)
if [[ -n "${THREADS:-}" ]]; then
    lb_args+=(--threads "$THREADS")
fi
rc=0
"$LOADBENCH" "${lb_args[@]}" 2>&1 || rc=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "WARNING: gatehouse is no longer running after the load" >&2
    rc=1
fi
if [[ $rc -ne 0 ]]; then
    echo "bench-foundation: FAILED (loadbench exit $rc)" >&2
fi
exit "$rc"
