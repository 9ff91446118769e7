#!/usr/bin/env bash
# Prepare a Python venv that can drive Gatehouse with the published trieve-python-client
# 1.0.0 (pinned in requirements.txt).
# The venv is made by tests/pyharness/venv.sh (shared by the suites), under target/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$HERE/../pyharness/venv.sh" "$HERE" trieve 'import trieve_python_client as tc; tc.UserApi; print("trieve-python-client", tc.__version__)'
