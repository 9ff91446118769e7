#!/usr/bin/env bash
# Prepare a Python venv with moto's S3 server, the real S3-compatible server the
# object-store tests (crates/server/tests/api/object_files.rs) run on loopback:
#   "$VENV/bin/python" -m moto.server -H 127.0.0.1 -p PORT
#   VENV    where to put it (default: <repo>/target/s3venv)
#   PYTHON  the interpreter to build it from (default: python3)
#
# Idempotent and safe to run concurrently: a lock serialises runs, and a marker file records
# the inputs of the last successful one, so a second run with the same requirements does
# nothing. Non-interactive; reaches only the package index pip is configured for.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
VENV="${VENV:-$REPO/target/s3venv}"
PYTHON="${PYTHON:-python3}"
MARKER="$VENV/.s3-setup-done"

command -v "$PYTHON" >/dev/null || { echo "setup.sh: $PYTHON not found" >&2; exit 1; }
mkdir -p "$(dirname "$VENV")"

# Parallel test binaries may call this at once: one prepares, the others wait.
exec 9>"$VENV.lock"
flock 9

# The marker holds a fingerprint of everything that decides what gets installed.
fingerprint="$( { cat "$HERE/requirements.txt"; "$PYTHON" -c 'import sys; print(sys.version)'; } \
                | sha256sum | cut -d' ' -f1)"

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
"$VENV/bin/python" -m pip install --quiet -r "$HERE/requirements.txt"

# Prove the server can start its S3 backend before recording success.
"$VENV/bin/python" -c 'import moto.server, moto.s3, flask, flask_cors'

echo "$fingerprint" > "$MARKER"
echo "setup.sh: done ($VENV)"
