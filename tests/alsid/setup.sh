#!/usr/bin/env bash
# Prepare a Python venv that can drive Gatehouse with the published pyTenable client
# (`tenable.ie`, pinned in requirements.txt).
# The venv is made by tests/pyharness/venv.sh (shared by the suites), under target/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$HERE/../pyharness/venv.sh" "$HERE" alsid 'from tenable.ie import TenableIE; TenableIE.users; import tenable; print("pyTenable", tenable.__version__ if hasattr(tenable, "__version__") else "?")'
