#!/usr/bin/env bash
# Access-log benchmark (issue 15, point 3): the token-authenticated GET of the foundation
# benchmark (GET /api/v1/account/details with a Bearer API token), served by a release
# `gatehouse serve` with the access log on (the default filter) and off (the same filter plus
# `gatehouse::access=off`, which silences only the access lines), in alternating rounds in one
# run. Each round starts a fresh server for each mode on the same data directory; the mode
# that goes first alternates between rounds so drift (other load, thermal) hits both alike.
# Prints req/s per round and mode, then the medians with min and max and the ratio on/off.
# The goal: with the log on, throughput stays within 10 % of it off. Not a test; run by hand.
#
# Environment overrides:
#   ROUNDS       rounds, each running both modes (default 5, at least 5 for the goal)
#   CONNECTIONS  concurrent keep-alive connections (default 64)
#   DURATION     measured seconds per mode and round (default 10)
#   WARMUP       warm-up seconds per mode and round, discarded (default 2)
#   THREADS      loadbench tokio worker threads (default: all CPUs)
#   LOG_FORMAT   the server's log format, text (default) or json
#   TARGET_PATH  the GET to load (default /api/v1/account/details)
#   SKIP_BUILD=1 use the existing target/release binaries
#   SERVER_BIN   server binary to run (default target/release/gatehouse)
set -euo pipefail

cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
LOG_FORMAT="${LOG_FORMAT:-text}"
TARGET_PATH="${TARGET_PATH:-/api/v1/account/details}"
PASSWORD='correct horse battery staple'
# The server's own default filter (telemetry.rs), written out so both modes differ only in
# the access target.
FILTER_ON='info,sqlx=warn'
FILTER_OFF='info,sqlx=warn,gatehouse::access=off'

echo "== machine"
echo "cpus (nproc):  $(nproc)"
echo "cpu model:     $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)"
echo "load average:  $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) (at start)"
if rev="$(git rev-parse --short HEAD 2>/dev/null)"; then
    git diff --quiet HEAD 2>/dev/null || rev="$rev (uncommitted changes)"
else
    rev=none
fi
echo "git:           $rev"
echo "NOTE: server and load generator share the machine's $(nproc) cores; compare the modes"
echo "      within this run, not absolute req/s across machines."
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

DATA_DIR="$(mktemp -d -t gatehouse-bench-log.XXXXXX)"
# The servers' logs, outside the data directory (the server keeps that private).
LOG_DIR="$(mktemp -d -t gatehouse-bench-log-out.XXXXXX)"
SERVER_PID=""
SERVER_LOG=""

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

cleanup() {
    local rc=$?
    stop_server
    if [[ $rc -ne 0 && -n "$SERVER_LOG" && -s "$SERVER_LOG" ]]; then
        echo "== last server log lines ($SERVER_LOG)" >&2
        tail -n 30 "$SERVER_LOG" >&2 || true
    fi
    rm -rf "$DATA_DIR" "$LOG_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server MODE: a server with the access log on or off, logging to its own file.
start_server() {
    local mode="$1" filter
    [[ "$mode" == on ]] && filter="$FILTER_ON" || filter="$FILTER_OFF"
    PORT="$(free_port)"
    SERVER_LOG="$LOG_DIR/server-$mode-$ROUND.log"
    RUST_LOG="$filter" "$GATEHOUSE" serve --data-dir "$DATA_DIR" --listen "127.0.0.1:$PORT" \
        --log-format "$LOG_FORMAT" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do # up to 30 s
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "gatehouse ($mode) exited before becoming ready" >&2
            exit 1
        fi
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/healthz" || true)"
        [[ "$code" == 200 ]] && return 0
        sleep 0.1
    done
    echo "gatehouse ($mode) did not answer GET /healthz with 200 within 30 s" >&2
    exit 1
}

echo "== setup"
echo "data dir: $DATA_DIR (SQLite)"
printf '%s\n' "$PASSWORD" |
    "$GATEHOUSE" user create --data-dir "$DATA_DIR" --username bench --email bench@example.com \
        --password-stdin >/dev/null
TOKEN="$("$GATEHOUSE" token create --data-dir "$DATA_DIR" --user bench --name bench | tr -d '[:space:]')"
[[ -n "$TOKEN" ]] || { echo "token create printed no token" >&2; exit 1; }
echo "user bench and an API token created"
echo "target:   GET $TARGET_PATH (Bearer API token), log format $LOG_FORMAT"
echo "modes:    on  = RUST_LOG=$FILTER_ON (the default)"
echo "          off = RUST_LOG=$FILTER_OFF"
echo

# run_mode MODE: one measurement; sets RPS and LINES (access lines the server wrote).
run_mode() {
    local mode="$1" out
    start_server "$mode"
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$TARGET_PATH" || true)"
    if [[ "$code" != 200 ]]; then
        echo "GET $TARGET_PATH with the token returned $code" >&2
        exit 1
    fi
    local lb_args=(
        --url "http://127.0.0.1:$PORT"
        --connections "$CONNECTIONS"
        --duration-secs "$DURATION"
        --warmup-secs "$WARMUP"
        --target "details=$TARGET_PATH@Authorization:Bearer $TOKEN"
    )
    [[ -n "${THREADS:-}" ]] && lb_args+=(--threads "$THREADS")
    out="$("$LOADBENCH" "${lb_args[@]}" 2>&1)" || {
        echo "$out" >&2
        echo "loadbench failed ($mode, round $ROUND)" >&2
        exit 1
    }
    RPS="$(awk '$1 == "details" && $4 ~ /^[0-9.]+$/ {print $4}' <<<"$out")"
    [[ -n "$RPS" ]] || { echo "$out" >&2; echo "no req/s in the loadbench output" >&2; exit 1; }
    stop_server
    # The modes must differ in what they claim: access lines written only with the log on.
    LINES="$(grep -c 'gatehouse::access' "$SERVER_LOG" || true)"
    if [[ "$mode" == on && "$LINES" -eq 0 ]] || [[ "$mode" == off && "$LINES" -ne 0 ]]; then
        echo "access log $mode wrote $LINES access lines: the filter did not do what it says" >&2
        exit 1
    fi
}

echo "== rounds (connections=$CONNECTIONS, warmup=${WARMUP}s, duration=${DURATION}s per mode)"
printf '%-6s %-6s %12s %12s %14s\n' round first "on req/s" "off req/s" "access lines"
ON=()
OFF=()
for ROUND in $(seq 1 "$ROUNDS"); do
    if (( ROUND % 2 == 1 )); then order=(on off); else order=(off on); fi
    declare -A result=()
    declare -A written=()
    for mode in "${order[@]}"; do
        run_mode "$mode"
        result[$mode]="$RPS"
        written[$mode]="$LINES"
    done
    ON+=("${result[on]}")
    OFF+=("${result[off]}")
    printf '%-6s %-6s %12s %12s %14s\n' "$ROUND" "${order[0]}" "${result[on]}" "${result[off]}" "${written[on]}"
    unset result written
done
echo
SERVER_LOG="" # measured: a missed goal is a result, not a reason to show server logs

python3 - "${ON[*]}" "${OFF[*]}" <<'EOF'
import statistics, sys
on = [float(x) for x in sys.argv[1].split()]
off = [float(x) for x in sys.argv[2].split()]
for name, xs in (("on", on), ("off", off)):
    print(f"access log {name:3}: median {statistics.median(xs):10.1f} req/s"
          f"  min {min(xs):10.1f}  max {max(xs):10.1f}  (n={len(xs)})")
ratio = statistics.median(on) / statistics.median(off)
per_round = [a / b for a, b in zip(on, off)]
print(f"ratio on/off of the medians: {ratio:.3f} ({(1 - ratio) * 100:+.1f} % cost)")
print("per-round ratios on/off:     " + " ".join(f"{r:.3f}" for r in per_round)
      + f"  (median {statistics.median(per_round):.3f})")
goal = ratio >= 0.90
print("GOAL (on within 10 % of off): " + ("met" if goal else "NOT met"))
sys.exit(0 if goal else 3)
EOF
