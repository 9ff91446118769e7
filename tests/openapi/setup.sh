#!/usr/bin/env bash
# Prepare the Python venv of the OpenAPI suite (openapi-spec-validator, pinned in
# requirements.txt), made by tests/pyharness/venv.sh under target/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$HERE/../pyharness/venv.sh" "$HERE" openapi 'import openapi_spec_validator; print("openapi-spec-validator ok")'
