#!/usr/bin/env bash
# Run the trieve-python-client 1.0.0 suite against a gatehouse binary.
#   GATEHOUSE_BIN  the binary to test (default: <repo>/target/debug/gatehouse)
#   VENV           the Python venv setup.sh prepares (default: <repo>/target/trieve-venv)
# Extra arguments go to pytest (e.g. -k api_key, -x).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
export VENV="${VENV:-$REPO/target/trieve-venv}"
export GATEHOUSE_BIN="${GATEHOUSE_BIN:-$REPO/target/debug/gatehouse}"

"$HERE/setup.sh"

if [[ ! -x "$GATEHOUSE_BIN" ]]; then
    echo "run.sh: gatehouse binary not found at $GATEHOUSE_BIN (cargo build -p gatehouse, or set GATEHOUSE_BIN)" >&2
    exit 1
fi

export PYTHONDONTWRITEBYTECODE=1
cd "$HERE"
# -p no:cacheprovider: leave no .pytest_cache in the source tree.
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfE "$@" "$HERE"
