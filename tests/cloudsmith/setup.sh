#!/usr/bin/env bash
# Prepare a Python venv that can drive Gatehouse with the published Cloudsmith SDK
# (`cloudsmith-api`) and command line (`cloudsmith-cli`), pinned in requirements.txt.
# The venv is made by tests/pyharness/venv.sh (shared by the suites), under target/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$HERE/../pyharness/venv.sh" "$HERE" cloudsmith 'import cloudsmith_api, pexpect; print("cloudsmith-api", cloudsmith_api.__version__ if hasattr(cloudsmith_api, "__version__") else "?")'
