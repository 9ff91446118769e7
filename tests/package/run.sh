#!/usr/bin/env bash
# The Debian package drill (docs/operations.md, "Install as a service"): builds the package
# from the binary `cargo test` built, installs it with dpkg on this machine, runs the
# installed binary as its unit would, and purges it (tests/package/drill.py says what is
# checked). Needs root and Debian's dpkg; installs systemd (for systemd-analyze) when missing.
#   GATEHOUSE_BIN               the binary to package (default: <repo>/target/debug/gatehouse)
#   GATEHOUSE_REQUIRE_PACKAGE   1: not being root on Debian is an error (CI); otherwise a skip
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
GATEHOUSE_BIN="${GATEHOUSE_BIN:-$REPO/target/debug/gatehouse}"
exec </dev/null

skip() {
    if [[ "${GATEHOUSE_REQUIRE_PACKAGE:-}" == 1 ]]; then
        echo "tests/package/run.sh: $1, and GATEHOUSE_REQUIRE_PACKAGE=1" >&2
        exit 1
    fi
    echo "skipped: the package drill installs a Debian package on this machine: $1"
    exit 0
}
[[ "$(id -u)" == 0 ]] || skip "it must run as root"
command -v dpkg-deb >/dev/null && command -v apt-get >/dev/null || skip "dpkg and apt-get are missing (not Debian)"

started=$(date +%s)
if ! command -v systemd-analyze >/dev/null; then
    echo "== installing systemd (for systemd-analyze verify)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
if dpkg-query -W -f='${Status}' gatehouse 2>/dev/null | grep -q installed; then
    echo "tests/package/run.sh: a gatehouse package is installed already; the drill installs and purges its own" >&2
    exit 1
fi
# Whatever fails, the machine is left without the package.
trap 'dpkg --purge gatehouse >/dev/null 2>&1 || true' EXIT

deb=$("$REPO/scripts/package-deb.sh" --binary "$GATEHOUSE_BIN" --out "$REPO/target/deb")
echo "== built $deb in $(( $(date +%s) - started )) s"
PYTHONDONTWRITEBYTECODE=1 python3 "$HERE/drill.py" "$deb"
echo "== package drill took $(( $(date +%s) - started )) s"
