#!/usr/bin/env bash
# Login benchmark (not a test; run by hand). A release `gatehouse serve` on loopback with a
# fresh data dir, LOGIN_CONNECTIONS users and one API token, then:
#   ceiling  `loadbench hash-ceiling`: time of one argon2id hash (the one a login costs,
#            m=19456 KiB t=2 p=1; the core's own verification, PasswordHasher::blocking,
#            on one thread: argon2-rust on memory it keeps, as the server's hashing threads)
#            and ceiling = cores / that time, in logins/s; built with
#            the same profile and RUSTFLAGS as the server, in the same cargo invocation;
#            measured right before and right after the rounds of (a), and the mean of the two is used
#   (a)      logins alone: POST /auth/v1/login, each connection as its own user, closed loop
#   (p)      the peer, taking turns with (a) (ROUNDS times each, medians compared): the same logins against scripts/bench-peer (a minimal
#            Node login service over @node-rs/argon2, the Rust-built argon2 of the issue's
#            peer; users and sessions in memory), so the peer is measured on the same machine
#            in the same minute
#   (b)      the same logins plus a latency probe at the same time:
#            GET /api/v1/account/details with the Bearer token, PROBE_CONNECTIONS connections
#            paced at PROBE_RATE req/s in total (latency counted from the scheduled send)
# and a summary of the three goals:
#   1. logins/s (a) >= 0.85 x the ceiling
#   2. p99 of the probe GET in (b) < 10 ms
#   3. logins/s (a) >= logins/s of the peer (p) measured in this run (the issue quotes 136/s
#      for it on a host where its hash took 7.2 ms; the summary prints its hash time here)
#      and, without a peer (PEER=none), >= 136
#
# Environment overrides:
#   BUILD              default | native (default: default). default = a plain release build
#                      (argon2-rust picks its SIMD code at run time: a portable binary);
#                      native = RUSTFLAGS="-C target-cpu=native" built into target/native
#                      (tied to this CPU; not a portable binary)
#   HASH_WORKERS       the server's --password-hash-workers (default: the server's, = cores)
#   LOGIN_CONNECTIONS  concurrent login clients (default 16)
#   PROBE_CONNECTIONS  probe connections in (b) (default 4)
#   PROBE_RATE         probe requests/s in total in (b) (default 200; 0 = closed loop, i.e.
#                      every probe connection sends again as soon as it has its answer)
#   DURATION           measured seconds per run (default 15)
#   ROUNDS             how many times (a) and (p) take turns (default 3)
#   WARMUP             warm-up seconds per run, discarded (default 3)
#   HASH_ITERATIONS    timed hashes per ceiling measurement (default 50)
#   THREADS            loadbench tokio worker threads (default 1: it needs little CPU here,
#                      and every cycle it uses is taken from the server's cores)
#   QUIET_WAIT         before each measurement, wait up to this many seconds for the machine
#                      to be >= 90% idle over 2 s (default 60; 0 = do not wait). This machine
#                      is shared: a compile running beside the benchmark takes its cores.
#   PORT               listen port (default: a free port picked by python3, else 18081)
#   SKIP_BUILD=1       use the binaries already built for BUILD
#   PEER               node (default) | none. node needs node and npm; the peer's pinned
#                      package (package-lock.json) is installed from the npm registry into
#                      $TARGET_DIR/bench-peer on first use
# Exit status: 0 all goals met, 3 a goal missed, anything else a setup or measurement error.
set -euo pipefail

cd "$(dirname "$0")/.."

BUILD="${BUILD:-default}"
LOGIN_CONNECTIONS="${LOGIN_CONNECTIONS:-16}"
PROBE_CONNECTIONS="${PROBE_CONNECTIONS:-4}"
PROBE_RATE="${PROBE_RATE:-200}"
DURATION="${DURATION:-15}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-3}"
HASH_ITERATIONS="${HASH_ITERATIONS:-50}"
THREADS="${THREADS:-1}"
QUIET_WAIT="${QUIET_WAIT:-60}"
PASSWORD='bench-logins 7Qx!fir kettle'
GOAL_RATIO=0.85
GOAL_P99_MS=10
GOAL_PEER_PER_S=136
ISSUE_PEER_HASH_MS=7.2
PEER="${PEER:-node}"

case "$BUILD" in
default)
    unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
    TARGET_DIR="${CARGO_TARGET_DIR:-target}"
    ;;
native)
    unset CARGO_ENCODED_RUSTFLAGS
    export RUSTFLAGS="-C target-cpu=native"
    TARGET_DIR=target/native
    ;;
*)
    echo "BUILD must be default or native, got '$BUILD'" >&2
    exit 2
    ;;
esac
export CARGO_TARGET_DIR="$TARGET_DIR"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo "$1"
}
if [[ -z "${PORT:-}" ]]; then
    PORT="$(free_port 18081)"
fi
case "$PEER" in
node | none) ;;
*)
    echo "PEER must be node or none, got '$PEER'" >&2
    exit 2
    ;;
esac

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
echo "build:         $BUILD: release profile, RUSTFLAGS=\"${RUSTFLAGS:-}\", target dir $TARGET_DIR"
echo "NOTE: server and load generator share this machine's $(nproc) cores; anything else running"
echo "      (a compile) takes CPU from the hash pool: see the 'other CPU' line after each run."
echo

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "== build (gatehouse and loadbench in one cargo invocation: same profile and flags)"
    cargo build --release -p gatehouse -p loadbench
    echo
fi

GATEHOUSE="$TARGET_DIR/release/gatehouse"
LOADBENCH="$TARGET_DIR/release/loadbench"
for bin in "$GATEHOUSE" "$LOADBENCH"; do
    [[ -x "$bin" ]] || { echo "missing $bin (run without SKIP_BUILD=1)" >&2; exit 1; }
done

PEER_DIR="$TARGET_DIR/bench-peer"
if [[ "$PEER" == node ]]; then
    command -v node >/dev/null && command -v npm >/dev/null ||
        { echo "PEER=node needs node and npm (or run with PEER=none)" >&2; exit 1; }
    mkdir -p "$PEER_DIR"
    if ! cmp -s scripts/bench-peer/package-lock.json "$PEER_DIR/package-lock.json" ||
        [[ ! -d "$PEER_DIR/node_modules/@node-rs/argon2" ]]; then
        echo "== peer: npm ci into $PEER_DIR"
        cp scripts/bench-peer/package.json scripts/bench-peer/package-lock.json "$PEER_DIR/"
        (cd "$PEER_DIR" && npm ci --no-audit --no-fund)
    fi
    cp scripts/bench-peer/server.js "$PEER_DIR/"
    echo "peer:          node $(node --version), @node-rs/argon2 $(node -p "require('$PEER_DIR/node_modules/@node-rs/argon2/package.json').version")"
    echo
fi

DATA_DIR="$(mktemp -d -t gatehouse-bench-logins.XXXXXX)"
SERVER_LOG="$DATA_DIR/server.log"
SERVER_PID=""
PEER_PID=""

stop_peer() {
    if [[ -n "$PEER_PID" ]] && kill -0 "$PEER_PID" 2>/dev/null; then
        kill "$PEER_PID" 2>/dev/null || true
        wait "$PEER_PID" 2>/dev/null || true
    fi
    PEER_PID=""
}
cleanup() {
    local rc=$?
    stop_peer
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && $rc -ne 3 && -s "$SERVER_LOG" ]]; then
        echo "== last server log lines ($SERVER_LOG)" >&2
        tail -n 30 "$SERVER_LOG" >&2 || true
    fi
    rm -rf "$DATA_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# CPU accounting around a run, to tell a clean measurement from one shared with a compile:
# jiffies busy on the whole machine, of which the server's; the hypervisor's steal; and the
# CPU seconds of this shell's finished children (bash `times`), i.e. of loadbench. `times`
# must run in this shell, not in a command substitution (a subshell has no finished
# children, which made this column read 0), so the snapshot is left in $SNAPSHOT.
children_cpu() { # file with the output of `times`
    awk 'NR == 2 {
        n = split($0, f, /[ ms]+/)
        t = 0
        for (k = 1; k + 1 <= n; k += 2) if (f[k] != "") t += f[k] * 60 + f[k + 1]
        printf "%.3f", t
    }' "$1"
}
cpu_snapshot() {
    local cpu user nice system idle iowait irq softirq steal rest
    read -r cpu user nice system idle iowait irq softirq steal rest </proc/stat
    local server
    server="$(awk '{print $14 + $15}' "/proc/${MEASURED_PID:-$SERVER_PID}/stat")"
    times >"$DATA_DIR/times.out"
    SNAPSHOT="$((user + nice + system + irq + softirq)) $((idle + iowait)) $steal $server $(children_cpu "$DATA_DIR/times.out")"
}
cpu_report() { # before after seconds
    local b a
    read -r -a b <<<"$1"
    read -r -a a <<<"$2"
    awk -v busy=$((a[0] - b[0])) -v idle=$((a[1] - b[1])) -v steal=$((a[2] - b[2])) \
        -v server=$((a[3] - b[3])) -v lb="$(awk -v x="${a[4]}" -v y="${b[4]}" 'BEGIN {print x - y}')" \
        -v hz="$(getconf CLK_TCK)" -v secs="$3" 'BEGIN {
        s = hz * secs
        printf "cpu during the run (cores): measured server %.2f, loadbench %.2f, other processes %.2f, idle %.2f, steal %.2f\n",
            server / s, lb / secs, (busy - server) / s - lb / secs, idle / s, steal / s
    }'
}

# Idle fraction of the whole machine over 2 s.
idle_2s() {
    local c u n s i w q sq st r t1 i1
    read -r c u n s i w q sq st r </proc/stat
    t1=$((u + n + s + i + w + q + sq + st)) i1=$((i + w))
    sleep 2
    read -r c u n s i w q sq st r </proc/stat
    awk -v i=$((i + w - i1)) -v t=$((u + n + s + i + w + q + sq + st - t1)) 'BEGIN {printf "%.2f", i / t}'
}
wait_quiet() {
    local idle waited=0
    idle="$(idle_2s)"
    while awk -v x="$idle" 'BEGIN {exit !(x < 0.90)}' && ((waited < QUIET_WAIT)); do
        sleep 3
        waited=$((waited + 5))
        idle="$(idle_2s)"
    done
    if awk -v x="$idle" 'BEGIN {exit !(x < 0.90)}'; then
        echo "WARNING: machine only ${idle} idle before this measurement (waited ${waited}s); other load skews it"
    else
        echo "machine idle before this measurement: $idle (waited ${waited}s)"
    fi
}

echo "== server"
echo "data dir: $DATA_DIR"
echo "listen:   127.0.0.1:$PORT"
server_args=(serve --data-dir "$DATA_DIR" --listen "127.0.0.1:$PORT")
if [[ -n "${HASH_WORKERS:-}" ]]; then
    server_args+=(--password-hash-workers "$HASH_WORKERS")
    echo "password hash workers: $HASH_WORKERS (--password-hash-workers)"
else
    echo "password hash workers: server default (= cores)"
fi
# Login throttling must not cap the benchmark.
GATEHOUSE_LOGIN_ATTEMPTS_PER_IP=100000000 GATEHOUSE_LOGIN_ATTEMPTS_PER_ACCOUNT=100000000 \
    "$GATEHOUSE" "${server_args[@]}" >"$SERVER_LOG" 2>&1 &
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

for i in $(seq 0 $((LOGIN_CONNECTIONS - 1))); do
    printf '%s\n' "$PASSWORD" |
        "$GATEHOUSE" user create --data-dir "$DATA_DIR" --username "bench$i" \
            --email "bench$i@example.com" --password-stdin >/dev/null
done
echo "users bench0..bench$((LOGIN_CONNECTIONS - 1)) created"
TOKEN="$("$GATEHOUSE" token create --data-dir "$DATA_DIR" --user bench0 --name bench | tr -d '[:space:]')"
if [[ -z "$TOKEN" ]]; then
    echo "token create printed no token" >&2
    exit 1
fi
echo "token created for bench0"

# Fail early (with the body) if a login or the token does not work, instead of a run of errors.
LOGIN_BODY="{\"login\":\"bench{i}\",\"password\":\"$PASSWORD\"}"
check() { # name expected-code curl-args...
    local name=$1 want=$2
    shift 2
    local code
    code="$(curl -s -o "$DATA_DIR/check.out" -w '%{http_code}' --max-time 5 "$@" || true)"
    if [[ "$code" != "$want" ]]; then
        echo "$name returned $code, expected $want:" >&2
        head -c 500 "$DATA_DIR/check.out" >&2 || true
        echo >&2
        exit 1
    fi
    echo "check: $name = $code"
}
check "POST /auth/v1/login as bench$((LOGIN_CONNECTIONS - 1))" 200 \
    -H 'Content-Type: application/json' \
    --data "${LOGIN_BODY//\{i\}/$((LOGIN_CONNECTIONS - 1))}" "http://127.0.0.1:$PORT/auth/v1/login"
check "GET /api/v1/account/details with the token" 200 \
    -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/account/details"
echo

# The ceiling is measured twice, right before and right after run (a), and goal 1 uses the
# mean hash time of the two: on a shared (virtual) machine the speed of a core drifts, and the
# ratio should compare the logins with the hashing speed of the same minute.
measure_ceiling() { # label output-file
    echo "== hash ceiling $1 (server idle)"
    wait_quiet
    "$LOADBENCH" hash-ceiling --iterations "$HASH_ITERATIONS" | tee "$DATA_DIR/$2"
    echo
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
measure_ceiling "1/2, before (a)" ceiling1.out
CEIL1="$(grep '^result:' "$DATA_DIR/ceiling1.out")"

lb_common=(
    --url "http://127.0.0.1:$PORT"
    --threads "$THREADS"
    --duration-secs "$DURATION"
    --warmup-secs "$WARMUP"
    --target "login=POST:/auth/v1/login"
    --body "login=$LOGIN_BODY"
    --connections "login=$LOGIN_CONNECTIONS"
)

# Runs loadbench with its arguments, prints its output and the CPU split; output kept in $1.
run_load() {
    local out=$1
    shift
    wait_quiet
    local before after rc=0
    cpu_snapshot
    before="$SNAPSHOT"
    "$LOADBENCH" "$@" >"$out" 2>&1 || rc=$?
    cpu_snapshot
    after="$SNAPSHOT"
    cat "$out"
    # The snapshot spans warm-up and measured window (and connection set-up, ~0.1 s).
    cpu_report "$before" "$after" "$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN {print w + d}')"
    if ! kill -0 "${MEASURED_PID:-$SERVER_PID}" 2>/dev/null; then
        echo "the measured server is no longer running after the load" >&2
        exit 1
    fi
    if [[ $rc -ne 0 ]]; then
        echo "bench-logins: loadbench reported errors (exit $rc); numbers are not a clean measurement" >&2
        exit 1
    fi
}
# Column of target $2 in loadbench's table in file $1: 4 req/s, 5 p50, 6 p90, 7 p99, 8 max.
col() { awk -v t="$2" -v c="$3" '$1 == t && NF == 8 && $4 ~ /^[0-9.]+$/ {print $c}' "$1"; }

P_RPS=""
PEER_HASH_MS=""
if [[ "$PEER" == node ]]; then
    # Started before any measurement: it hashes its users' passwords first, then idles
    # (no CPU) while Gatehouse is measured, as Gatehouse idles while the peer is.
    PEER_PORT="$(free_port 18082)"
    PEER_LOG="$DATA_DIR/peer.log"
    node "$PEER_DIR/server.js" "$PEER_PORT" "$LOGIN_CONNECTIONS" "$PASSWORD" >"$PEER_LOG" 2>&1 &
    PEER_PID=$!
    for _ in $(seq 1 600); do # up to 60 s
        grep -q ' ready$' "$PEER_LOG" && break
        kill -0 "$PEER_PID" 2>/dev/null || { cat "$PEER_LOG" >&2; echo "the peer exited" >&2; exit 1; }
        sleep 0.1
    done
    grep -q ' ready$' "$PEER_LOG" || { cat "$PEER_LOG" >&2; echo "the peer did not start" >&2; exit 1; }
    echo "== the peer (scripts/bench-peer) on 127.0.0.1:$PEER_PORT"
    cat "$PEER_LOG"
    PEER_HASH_MS="$(sed -n 's/.*one_hash_ms=\([0-9.]*\).*/\1/p' "$PEER_LOG")"
    peer_common=("${lb_common[@]}")
    peer_common[1]="http://127.0.0.1:$PEER_PORT"
    echo
fi

# (a) and (p) take turns, ROUNDS times: a host whose speed drifts by 20% within minutes (as
# this shared one does) then favours neither; the medians are compared.
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
A_ALL=""
P_ALL=""
for round in $(seq 1 "$ROUNDS"); do
    echo "== (a) logins alone, round $round/$ROUNDS: $LOGIN_CONNECTIONS connections, each its own user"
    run_load "$DATA_DIR/a$round.out" "${lb_common[@]}"
    A_ALL="$A_ALL $(col "$DATA_DIR/a$round.out" login 4)"
    echo
    if [[ "$PEER" == node ]]; then
        echo "== (p) the peer, round $round/$ROUNDS: the same logins against the Node service"
        MEASURED_PID=$PEER_PID run_load "$DATA_DIR/p$round.out" "${peer_common[@]}"
        P_ALL="$P_ALL $(col "$DATA_DIR/p$round.out" login 4)"
        echo
    fi
done
stop_peer
A_RPS="$(median <<<"$A_ALL")"
[[ -z "$P_ALL" ]] || P_RPS="$(median <<<"$P_ALL")"

measure_ceiling "2/2, after the rounds" ceiling2.out
CEIL2="$(grep '^result:' "$DATA_DIR/ceiling2.out")"
HASH1_MS="$(field "$CEIL1" one_hash_ms)"
HASH2_MS="$(field "$CEIL2" one_hash_ms)"
CORES="$(field "$CEIL1" cores)"
PARALLEL1="$(field "$CEIL1" parallel_per_s)"
PARALLEL2="$(field "$CEIL2" parallel_per_s)"
VERIFY1_MS="$(field "$CEIL1" verify_ms)"
VERIFY2_MS="$(field "$CEIL2" verify_ms)"
HASH_MS="$(awk -v a="$HASH1_MS" -v b="$HASH2_MS" 'BEGIN {printf "%.2f", (a + b) / 2}')"
CEILING="$(awk -v t="$HASH_MS" -v c="$CORES" 'BEGIN {printf "%.1f", c * 1000 / t}')"

if [[ "$PROBE_RATE" == 0 ]]; then
    probe_args=()
    probe_desc="closed loop"
else
    probe_args=(--rate "details=$PROBE_RATE")
    probe_desc="paced at $PROBE_RATE req/s in total"
fi
echo "== (b) logins + probe at once: $LOGIN_CONNECTIONS login connections, $PROBE_CONNECTIONS probe connections ($probe_desc)"
run_load "$DATA_DIR/b.out" "${lb_common[@]}" --concurrent \
    --target "details=/api/v1/account/details@Authorization:Bearer $TOKEN" \
    --connections "details=$PROBE_CONNECTIONS" "${probe_args[@]}"
B_RPS="$(col "$DATA_DIR/b.out" login 4)"
B_P50="$(col "$DATA_DIR/b.out" details 5)"
B_P99="$(col "$DATA_DIR/b.out" details 7)"
B_MAX="$(col "$DATA_DIR/b.out" details 8)"
echo

verdict() { [[ "$1" == 1 ]] && echo PASS || echo FAIL; }
G1="$(awk -v a="$A_RPS" -v c="$CEILING" -v g="$GOAL_RATIO" 'BEGIN {print (a >= g * c) ? 1 : 0}')"
G2="$(awk -v p="$B_P99" -v g="$GOAL_P99_MS" 'BEGIN {print (p < g) ? 1 : 0}')"
if [[ -n "$P_RPS" ]]; then
    G3="$(awk -v a="$A_RPS" -v p="$P_RPS" 'BEGIN {print (a >= p) ? 1 : 0}')"
else
    G3="$(awk -v a="$A_RPS" -v g="$GOAL_PEER_PER_S" 'BEGIN {print (a >= g) ? 1 : 0}')"
fi
RATIO="$(awk -v a="$A_RPS" -v c="$CEILING" 'BEGIN {printf "%.2f", a / c}')"

echo "== summary"
echo "build:        $BUILD (release, RUSTFLAGS=\"${RUSTFLAGS:-}\")"
echo "hash workers: ${HASH_WORKERS:-server default (= $CORES cores)}"
printf 'one argon2id hash:  %s ms (mean of %s before and %s after the rounds) -> ceiling %s logins/s (%s cores)\n' \
    "$HASH_MS" "$HASH1_MS" "$HASH2_MS" "$CEILING" "$CORES"
printf '                    check: %s threads hashing at once did %s/s before, %s/s after\n' \
    "$CORES" "$PARALLEL1" "$PARALLEL2"
printf '                    via PasswordHasher::verify (the pool, one at a time): %s ms before, %s ms after\n' \
    "$VERIFY1_MS" "$VERIFY2_MS"
printf '(a) logins alone:   %s logins/s at %s clients (median of the rounds:%s)\n' "$A_RPS" "$LOGIN_CONNECTIONS" "$A_ALL"
printf '(b) logins + probe: %s logins/s; probe GET p50 %s ms, p99 %s ms, max %s ms (%s connections, %s)\n' \
    "$B_RPS" "$B_P50" "$B_P99" "$B_MAX" "$PROBE_CONNECTIONS" "$probe_desc"
printf 'goal 1  logins (a) >= %s x ceiling:  %s x (%s / %s)  %s\n' \
    "$GOAL_RATIO" "$RATIO" "$A_RPS" "$CEILING" "$(verdict "$G1")"
# The ceiling assumes the cores hash independently; the check above measures what they do at
# once without any server, which is the most any server on this host can reach.
PARALLEL="$(awk -v a="$PARALLEL1" -v b="$PARALLEL2" 'BEGIN {printf "%.1f", (a + b) / 2}')"
printf '        (%s cores hashing at once did %s/s without a server = %s x the ceiling;\n' \
    "$CORES" "$PARALLEL" "$(awk -v p="$PARALLEL" -v c="$CEILING" 'BEGIN {printf "%.2f", p / c}')"
printf '         logins (a) are %s x that)\n' "$(awk -v a="$A_RPS" -v p="$PARALLEL" 'BEGIN {printf "%.2f", a / p}')"
printf 'goal 2  probe GET p99 (b) < %s ms:    %s ms  %s\n' "$GOAL_P99_MS" "$B_P99" "$(verdict "$G2")"
if [[ -n "$P_RPS" ]]; then
    printf '(p) the peer:       %s logins/s at %s clients (median of the rounds:%s; Node + @node-rs/argon2, its one hash here: %s ms)\n' \
        "$P_RPS" "$LOGIN_CONNECTIONS" "$P_ALL" "$PEER_HASH_MS"
    printf 'goal 3  logins (a) >= the peer (p):  %s/s vs %s/s = %s x  %s\n' "$A_RPS" "$P_RPS" \
        "$(awk -v a="$A_RPS" -v p="$P_RPS" 'BEGIN {printf "%.2f", a / p}')" "$(verdict "$G3")"
    printf '        (the issue quotes %s/s for this peer where its hash took %s ms; here its hash took %s ms and\n' \
        "$GOAL_PEER_PER_S" "$ISSUE_PEER_HASH_MS" "$PEER_HASH_MS"
    printf '         this host'"'"'s ceiling is %s/s for any server: logins (a) >= %s/s as an absolute number: %s)\n' \
        "$CEILING" "$GOAL_PEER_PER_S" \
        "$(verdict "$(awk -v a="$A_RPS" -v g="$GOAL_PEER_PER_S" 'BEGIN {print (a >= g) ? 1 : 0}')")"
else
    printf 'goal 3  logins (a) >= %s/s (peer):    %s/s  %s\n' "$GOAL_PEER_PER_S" "$A_RPS" "$(verdict "$G3")"
fi
if [[ "$G1$G2$G3" == 111 ]]; then
    echo "RESULT: all goals met"
    exit 0
fi
echo "RESULT: goal(s) missed"
exit 3
