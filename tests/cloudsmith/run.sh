#!/usr/bin/env bash
# Run the Cloudsmith suite (cloudsmith-api SDK and cloudsmith-cli) against a gatehouse binary.
#   GATEHOUSE_BIN  the binary to test (default: <repo>/target/debug/gatehouse)
#   VENV           the Python venv setup.sh prepares (default: <repo>/target/cloudsmith-venv)
# Extra arguments go to pytest (e.g. -k login, -x).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
export VENV="${VENV:-$REPO/target/cloudsmith-venv}"
export GATEHOUSE_BIN="${GATEHOUSE_BIN:-$REPO/target/debug/gatehouse}"

echo "== cloudsmith-api and cloudsmith-cli against a real server"
"$HERE/setup.sh"

if [[ ! -x "$GATEHOUSE_BIN" ]]; then
    echo "run.sh: gatehouse binary not found at $GATEHOUSE_BIN (cargo build -p gatehouse, or set GATEHOUSE_BIN)" >&2
    exit 1
fi

export PYTHONDONTWRITEBYTECODE=1
cd "$HERE"
# -p no:cacheprovider: leave no .pytest_cache in the source tree.
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfE "$@" "$HERE"
