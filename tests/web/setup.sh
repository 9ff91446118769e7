#!/usr/bin/env bash
# Prepare the Python venv of the web-page suite (Selenium, pytest, requests; pinned in
# requirements.txt). The browser is not installed here: it is the Debian chromium and
# chromium-driver packages (.ci/run installs them).
#
# Idempotent: a marker file records the requirements of the last successful run, so a
# second run with the same requirements does nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
VENV="${VENV:-$REPO/target/web-venv}"
PYTHON="${PYTHON:-python3}"
MARKER="$VENV/.web-setup-done"

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

# Prove it imports before recording success.
"$VENV/bin/python" -c 'import selenium, pytest, requests; print("selenium", selenium.__version__)'

echo "$fingerprint" > "$MARKER"
echo "setup.sh: done"
