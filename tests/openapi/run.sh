#!/usr/bin/env bash
# Validate the native API's OpenAPI document, as a real `gatehouse serve` serves it, with
# openapi-spec-validator.
#   GATEHOUSE_BIN  the binary to test (default: <repo>/target/debug/gatehouse)
#   VENV           the venv setup.sh prepares (default: <repo>/target/openapi-venv)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
export VENV="${VENV:-$REPO/target/openapi-venv}"
export GATEHOUSE_BIN="${GATEHOUSE_BIN:-$REPO/target/debug/gatehouse}"

"$HERE/setup.sh"

if [[ ! -x "$GATEHOUSE_BIN" ]]; then
    echo "run.sh: gatehouse binary not found at $GATEHOUSE_BIN (cargo build -p gatehouse, or set GATEHOUSE_BIN)" >&2
    exit 1
fi

export PYTHONDONTWRITEBYTECODE=1
cd "$HERE"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfE "$@" "$HERE"
