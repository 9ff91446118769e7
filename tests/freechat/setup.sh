#!/usr/bin/env bash
# Prepare a Python venv that can drive Gatehouse with the real freechat-sdk 0.1.0.
#
# freechat-sdk 0.1.0 is published broken: its package directory is literally named
# "freechat-sdk" and its own modules do `from freechat-sdk.api ...` (a SyntaxError).
# We download the wheel without dependencies, unpack it, rename the package directory to
# freechat_sdk and fix the imports (see shared/reference/api-reference.md, section 7).
# The patched package lives in $VENV/freechat-sdk-patched; put that on PYTHONPATH.
#
# Idempotent: a marker file records the inputs of the last successful run, so a second
# run with the same requirements does nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
VENV="${VENV:-$REPO/target/pyenv}"
PYTHON="${PYTHON:-python3}"

SDK_VERSION="0.1.0"
SDK_WHEEL="freechat_sdk-${SDK_VERSION}-py3-none-any.whl"
SDK_SHA256="520eb1b33a09d40680fbd01545db2189caf0a3c4fdf9bdfca71f9d776c03d38c"
PATCHED="$VENV/freechat-sdk-patched"
MARKER="$VENV/.freechat-setup-done"

# The marker holds a fingerprint of everything that decides what gets installed.
fingerprint="$( { cat "$HERE/requirements.txt"; echo "sdk=$SDK_VERSION sha=$SDK_SHA256"; \
                  sed -n '/^# --- patch ---$/,/^# --- end patch ---$/p' "${BASH_SOURCE[0]}"; } | sha256sum | cut -d' ' -f1)"

if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$fingerprint" \
      && -x "$VENV/bin/python" && -f "$PATCHED/freechat_sdk/__init__.py" ]]; then
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

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$VENV/bin/python" -m pip download --quiet --no-deps --only-binary=:all: \
    -d "$work/dl" "freechat-sdk==$SDK_VERSION"
wheel="$work/dl/$SDK_WHEEL"
[[ -f "$wheel" ]] || { echo "setup.sh: expected $SDK_WHEEL, got: $(ls "$work/dl")" >&2; exit 1; }
echo "$SDK_SHA256  $wheel" | sha256sum -c --quiet - \
    || { echo "setup.sh: checksum mismatch for $SDK_WHEEL" >&2; exit 1; }

# --- patch ---
"$VENV/bin/python" -m zipfile -e "$wheel" "$work/x"
mv "$work/x/freechat-sdk" "$work/x/freechat_sdk"
grep -rl 'freechat-sdk' "$work/x/freechat_sdk" --include='*.py' \
    | xargs -r sed -i -E 's/(from|import) freechat-sdk/\1 freechat_sdk/g; s/freechat-sdk\.models/freechat_sdk.models/g'
# --- end patch ---

rm -rf "$PATCHED"
mkdir -p "$PATCHED"
mv "$work/x/freechat_sdk" "$PATCHED/freechat_sdk"

# Prove it imports before recording success.
PYTHONPATH="$PATCHED" "$VENV/bin/python" -c \
    'import freechat_sdk as fc; fc.AccountApi; fc.Configuration; fc.UserDetailsDTO; fc.UserBasicInfoDTO'

echo "$fingerprint" > "$MARKER"
echo "setup.sh: done (PYTHONPATH=$PATCHED)"
