#!/usr/bin/env bash
# Run the web-page suite: headless Chromium (the Debian chromium and chromium-driver
# packages) through Selenium against real `gatehouse serve` processes. Screenshots of the
# main pages land in <repo>/target/ui-screenshots/ (failures: .../failures/).
#   GATEHOUSE_BIN              the binary to test (default: <repo>/target/debug/gatehouse)
#   VENV                       the Python venv setup.sh prepares (default: <repo>/target/web-venv)
#   CHROMIUM, CHROMEDRIVER     the browser and its driver (default: /usr/bin/chromium, /usr/bin/chromedriver)
#   GATEHOUSE_REQUIRE_BROWSER  1: a missing browser is an error (CI); otherwise the suite is skipped
# Extra arguments go to pytest (e.g. -k totp, -x).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
export VENV="${VENV:-$REPO/target/web-venv}"
export GATEHOUSE_BIN="${GATEHOUSE_BIN:-$REPO/target/debug/gatehouse}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"

if [[ ! -x "$CHROMIUM" || ! -x "$CHROMEDRIVER" ]]; then
    message="$CHROMIUM or $CHROMEDRIVER is missing (Debian: apt-get install chromium chromium-driver)"
    if [[ "${GATEHOUSE_REQUIRE_BROWSER:-}" == 1 ]]; then
        echo "run.sh: $message, and GATEHOUSE_REQUIRE_BROWSER=1" >&2
        exit 1
    fi
    echo "skipped: the web-page suite needs headless Chromium: $message"
    exit 0
fi

"$HERE/setup.sh"

if [[ ! -x "$GATEHOUSE_BIN" ]]; then
    echo "run.sh: gatehouse binary not found at $GATEHOUSE_BIN (cargo build -p gatehouse, or set GATEHOUSE_BIN)" >&2
    exit 1
fi

export PYTHONDONTWRITEBYTECODE=1
# Selenium must never fetch a browser or a driver: the paths are given, and this says so twice.
export SE_OFFLINE=true
cd "$HERE"
# -p no:cacheprovider: leave no .pytest_cache in the source tree.
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfE "$@" "$HERE"
