#!/usr/bin/env bash
# Prepare the Python venv of the web-page suite (Selenium, pytest, requests; pinned in
# requirements.txt). The browser is not installed here: it is the Debian chromium and
# chromium-driver packages (.ci/run installs them).
# The venv is made by tests/pyharness/venv.sh (shared by the suites), under target/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$HERE/../pyharness/venv.sh" "$HERE" web 'import selenium, pytest, requests; print("selenium", selenium.__version__)'
