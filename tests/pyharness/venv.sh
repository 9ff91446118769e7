#!/usr/bin/env bash
# Prepares one Python suite's venv from its pinned requirements.txt; each suite's setup.sh
# calls it with its own directory, its venv's name and a Python line that proves the
# installed client imports.
#   venv.sh SUITE_DIR NAME PROBE
# The venv is $VENV, else <repo>/target/NAME-venv. Idempotent: a marker file records the
# requirements of the last successful run, so a second run with the same requirements does
# nothing.
set -euo pipefail

SUITE="$1"
NAME="$2"
PROBE="$3"
REPO="$(git -C "$SUITE" rev-parse --show-toplevel 2>/dev/null || (cd "$SUITE/../.." && pwd))"
VENV="${VENV:-$REPO/target/$NAME-venv}"
PYTHON="${PYTHON:-python3}"
MARKER="$VENV/.$NAME-setup-done"

fingerprint="$(sha256sum "$SUITE/requirements.txt" | cut -d' ' -f1)"

if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$fingerprint" && -x "$VENV/bin/python" ]]; then
    echo "setup.sh: $VENV is up to date"
    exit 0
fi

echo "setup.sh: preparing $VENV"
rm -f "$MARKER"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$VENV/bin/python" -m pip install --quiet -r "$SUITE/requirements.txt"

# Prove it imports before recording success.
"$VENV/bin/python" -c "$PROBE"

echo "$fingerprint" > "$MARKER"
echo "setup.sh: done"
