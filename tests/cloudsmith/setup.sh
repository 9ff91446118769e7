#!/usr/bin/env bash
# Prepare a Python venv that can drive Gatehouse with the published Cloudsmith SDK
# (`cloudsmith-api`) and command line (`cloudsmith-cli`), pinned in requirements.txt.
#
# Idempotent: a marker file records the requirements of the last successful run, so a
# second run with the same requirements does nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
VENV="${VENV:-$REPO/target/cloudsmith-venv}"
PYTHON="${PYTHON:-python3}"
MARKER="$VENV/.cloudsmith-setup-done"

fingerprint="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"

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

# Prove both import (and the CLI starts) before recording success.
"$VENV/bin/python" -c 'import cloudsmith_api, pexpect; print("cloudsmith-api", cloudsmith_api.__version__ if hasattr(cloudsmith_api, "__version__") else "?")'
CLOUDSMITH_NO_UPDATE_CHECK=1 CLOUDSMITH_NO_TELEMETRY=1 CLOUDSMITH_NO_KEYRING=1 \
    "$VENV/bin/cloudsmith" --version

echo "$fingerprint" > "$MARKER"
echo "setup.sh: done"
