#!/usr/bin/env bash
# Before/after benchmark for a refactoring (issue 16: "no slower than before"). Builds the
# release binary of BEFORE (a git revision, in a scratch worktree) and of the working tree,
# then, in alternating rounds in one run, serves the same SQLite data directory with each and
# measures:
#   token  GET /api/v1/account/details with a Bearer API token (the token-authenticated GET
#          of the foundation benchmark), closed loop, TOKEN_CONNECTIONS connections
#   login  POST /auth/v1/login, each connection as its own user (one argon2id hash each)
# The side that goes first alternates between rounds, so drift hits both alike. Prints req/s
# per round and side, the medians with min and max, and the after/before ratios. Not a test;
# run by hand on a quiet machine.
#
# Environment overrides:
#   BEFORE             git revision to compare against (default: HEAD~1)
#   ROUNDS             rounds, each running both sides (default 5, at least 5 for a claim)
#   DURATION           measured seconds per target, side and round (default 8)
#   WARMUP             warm-up seconds per target, discarded (default 2)
#   TOKEN_CONNECTIONS  connections for the token GET (default 64)
#   LOGIN_CONNECTIONS  connections (and users) for the logins (default 8)
#   THREADS            loadbench tokio worker threads (default 1)
#   SKIP_BUILD=1       use existing binaries: BEFORE_BIN, AFTER_BIN, LOADBENCH_BIN
set -euo pipefail

cd "$(dirname "$0")/.."

BEFORE="${BEFORE:-HEAD~1}"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-8}"
WARMUP="${WARMUP:-2}"
TOKEN_CONNECTIONS="${TOKEN_CONNECTIONS:-64}"
LOGIN_CONNECTIONS="${LOGIN_CONNECTIONS:-8}"
THREADS="${THREADS:-1}"
PASSWORD='correct horse battery staple'
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BEFORE_TARGET="$TARGET_DIR/bench-before"

echo "== machine"
echo "cpus (nproc):  $(nproc)"
echo "load average:  $(cut -d' ' -f1-3 /proc/loadavg) (at start)"
echo "after:         $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (uncommitted changes)')"
echo "before:        $(git rev-parse --short "$BEFORE") ($BEFORE)"
echo

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "== build"
    cargo build --release -p gatehouse -p loadbench
    WORKTREE="$(mktemp -d -t gatehouse-before.XXXXXX)"
    git worktree add --detach "$WORKTREE" "$BEFORE" >/dev/null
    (cd "$WORKTREE" && CARGO_TARGET_DIR="$OLDPWD/$BEFORE_TARGET" cargo build --release -p gatehouse)
    git worktree remove --force "$WORKTREE"
    echo
fi
BEFORE_BIN="${BEFORE_BIN:-$BEFORE_TARGET/release/gatehouse}"
AFTER_BIN="${AFTER_BIN:-$TARGET_DIR/release/gatehouse}"
LOADBENCH="${LOADBENCH_BIN:-$TARGET_DIR/release/loadbench}"
for bin in "$BEFORE_BIN" "$AFTER_BIN" "$LOADBENCH"; do
    [[ -x "$bin" ]] || { echo "missing $bin (run without SKIP_BUILD=1)" >&2; exit 1; }
done

DATA_DIR="$(mktemp -d -t gatehouse-bench-ba.XXXXXX)"
LOG_DIR="$(mktemp -d -t gatehouse-bench-ba-log.XXXXXX)"
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() {
    local rc=$?
    stop_server
    rm -rf "$DATA_DIR" "$LOG_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server SIDE: that side's binary on the shared data directory.
start_server() {
    local bin
    [[ "$1" == before ]] && bin="$BEFORE_BIN" || bin="$AFTER_BIN"
    PORT="$(free_port)"
    # loadbench drops the logins in flight when a window closes, and a sign-in dropped
    # during its hash keeps its throttling count (it is counted before the hash and taken
    # back only after it): enough rounds would spend the per-address budget. The limits are
    # raised so that the runs measure sign-ins, not the throttle.
    GATEHOUSE_LOGIN_ATTEMPTS_PER_IP=1000000 GATEHOUSE_LOGIN_ATTEMPTS_PER_ACCOUNT=1000000 \
        GATEHOUSE_LOGIN_ATTEMPTS_PER_ACCOUNT_PER_DAY=1000000 \
        "$bin" serve --data-dir "$DATA_DIR" --listen "127.0.0.1:$PORT" \
        >"$LOG_DIR/server-$1-$ROUND.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "gatehouse ($1) exited" >&2; exit 1; }
        [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
            "http://127.0.0.1:$PORT/healthz" || true)" == 200 ]] && return 0
        sleep 0.1
    done
    echo "gatehouse ($1) did not become ready within 30 s" >&2
    exit 1
}

echo "== setup"
# The before binary creates the data (its schema is what both read; a migration the after
# binary adds would run at its first start and be kept).
for i in $(seq 0 $((LOGIN_CONNECTIONS - 1))); do
    printf '%s\n' "$PASSWORD" | "$BEFORE_BIN" user create --data-dir "$DATA_DIR" \
        --username "bench$i" --email "bench$i@example.com" --password-stdin >/dev/null
done
TOKEN="$("$BEFORE_BIN" token create --data-dir "$DATA_DIR" --user bench0 --name bench | tr -d '[:space:]')"
[[ -n "$TOKEN" ]] || { echo "token create printed no token" >&2; exit 1; }
echo "$LOGIN_CONNECTIONS users and one API token; SQLite in $DATA_DIR"
echo

# run_side SIDE: sets TOKEN_RPS and LOGIN_RPS.
run_side() {
    local out
    start_server "$1"
    out="$("$LOADBENCH" --url "http://127.0.0.1:$PORT" --threads "$THREADS" \
        --duration-secs "$DURATION" --warmup-secs "$WARMUP" \
        --target "token=/api/v1/account/details@Authorization:Bearer $TOKEN" \
        --connections "token=$TOKEN_CONNECTIONS" \
        --target "login=POST:/auth/v1/login" \
        --body "login={\"login\":\"bench{i}\",\"password\":\"$PASSWORD\"}" \
        --connections "login=$LOGIN_CONNECTIONS" 2>&1)" || {
        echo "$out" >&2
        echo "loadbench failed ($1, round $ROUND)" >&2
        exit 1
    }
    stop_server
    TOKEN_RPS="$(awk '$1 == "token" && $4 ~ /^[0-9.]+$/ {print $4}' <<<"$out")"
    LOGIN_RPS="$(awk '$1 == "login" && $4 ~ /^[0-9.]+$/ {print $4}' <<<"$out")"
    [[ -n "$TOKEN_RPS" && -n "$LOGIN_RPS" ]] || { echo "$out" >&2; exit 1; }
}

echo "== rounds (token: $TOKEN_CONNECTIONS connections; login: $LOGIN_CONNECTIONS; ${DURATION}s each)"
printf '%-6s %-7s %14s %14s %14s %14s\n' round first "token before" "token after" \
    "login before" "login after"
TB=() TA=() LB=() LA=()
for ROUND in $(seq 1 "$ROUNDS"); do
    if (( ROUND % 2 == 1 )); then order=(before after); else order=(after before); fi
    declare -A tok=() log=()
    for side in "${order[@]}"; do
        run_side "$side"
        tok[$side]="$TOKEN_RPS"
        log[$side]="$LOGIN_RPS"
    done
    TB+=("${tok[before]}") TA+=("${tok[after]}") LB+=("${log[before]}") LA+=("${log[after]}")
    printf '%-6s %-7s %14s %14s %14s %14s\n' "$ROUND" "${order[0]}" "${tok[before]}" \
        "${tok[after]}" "${log[before]}" "${log[after]}"
    unset tok log
done
echo

python3 - "${TB[*]}" "${TA[*]}" "${LB[*]}" "${LA[*]}" <<'EOF'
import statistics, sys
tb, ta, lb, la = ([float(x) for x in a.split()] for a in sys.argv[1:5])
for name, xs in (("token before", tb), ("token after", ta), ("login before", lb), ("login after", la)):
    print(f"{name:13}: median {statistics.median(xs):10.1f} req/s  min {min(xs):10.1f}"
          f"  max {max(xs):10.1f}  (n={len(xs)})")
for name, before, after in (("token", tb, ta), ("login", lb, la)):
    ratio = statistics.median(after) / statistics.median(before)
    rounds = " ".join(f"{a / b:.3f}" for a, b in zip(after, before))
    print(f"{name} after/before: ratio of medians {ratio:.3f}; per round {rounds}")
EOF
