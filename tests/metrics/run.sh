#!/usr/bin/env bash
# `promtool check metrics` on what a real `gatehouse serve` answers at /metrics after some
# traffic (tests/metrics/check.py makes it and checks that every family is there).
# promtool comes from Debian's `prometheus` package, downloaded and unpacked into
# target/promtool with dpkg-deb -x: never installed, so no Prometheus server is started.
#   GATEHOUSE_BIN               the binary to test (default: <repo>/target/debug/gatehouse)
#   PROMTOOL                    a promtool to use instead of the unpacked one
#   GATEHOUSE_REQUIRE_PACKAGE   1: a machine without apt-get is an error (CI); otherwise a skip
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
export GATEHOUSE_BIN="${GATEHOUSE_BIN:-$REPO/target/debug/gatehouse}"
exec </dev/null
started=$(date +%s)

promtool="${PROMTOOL:-$REPO/target/promtool/usr/bin/promtool}"
if [[ ! -x "$promtool" ]]; then
    if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
        if [[ "${GATEHOUSE_REQUIRE_PACKAGE:-}" == 1 ]]; then
            echo "tests/metrics/run.sh: no promtool and no apt-get to fetch it, and GATEHOUSE_REQUIRE_PACKAGE=1" >&2
            exit 1
        fi
        echo "skipped: promtool is missing (set PROMTOOL, or run on Debian, where it is fetched)"
        exit 0
    fi
    download="$REPO/target/promtool-download"
    rm -rf "$download" && mkdir -p "$download"
    echo "== fetching Debian's prometheus package for its promtool"
    # apt-get download runs as the _apt user where it can; the directory must let it write.
    chmod 0777 "$download"
    if ! (cd "$download" && apt-get download -qq prometheus); then
        apt-get update -qq
        (cd "$download" && apt-get download -qq prometheus)
    fi
    rm -rf "$REPO/target/promtool"
    dpkg-deb -x "$download"/prometheus_*.deb "$REPO/target/promtool"
    rm -rf "$download"
fi
"$promtool" --version | head -n 1
PYTHONDONTWRITEBYTECODE=1 python3 "$HERE/check.py" "$promtool"
echo "== metrics check took $(( $(date +%s) - started )) s"
