#!/usr/bin/env bash
# Every check and test Gatehouse has, in the order a failure is cheapest to see:
# formatting, lints, the Rust tests (unit, Store contract, HTTP, CLI), the native HTTP suite
# again on a build without any vendor dialect, the HTTP and CLI tests on PostgreSQL (when it
# answers on 127.0.0.1:5432), then the published clients (freechat-sdk, pytenable's Alsid
# client, cloudsmith-api + cloudsmith-cli, trieve-python-client) against a real server
# process, the native OpenAPI document through a validator, the pages in a browser, promtool
# on /metrics, and the Debian package installed and run as a service would be. Needs: cargo,
# python3 (with venv); each Python suite installs its pinned packages into its own venv under
# target/ on first run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
# Again without the dialects: what only they use must not leave dead code or warnings behind.
cargo clippy -p gatehouse --no-default-features --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
echo "== the native HTTP suite on a build without any vendor dialect (--no-default-features)"
# Each dialect is a Cargo feature; tests that call one are compiled only with it. One more
# build of the gatehouse crate and its test binary (the dependencies are shared).
cargo test -p gatehouse --no-default-features --test api
# That build replaced target/debug/gatehouse; put the full binary back for the suites below
# (its artifacts are fresh, so this only links it into place again).
cargo build -p gatehouse
echo "== the HTTP and CLI tests again, on PostgreSQL"
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || [[ "${GATEHOUSE_REQUIRE_POSTGRES:-}" == 1 ]]; then
    GATEHOUSE_TEST_BACKEND=postgres cargo test -p gatehouse --test api
else
    echo "skipped: PostgreSQL not reachable on 127.0.0.1:5432 (the SQLite run above covered the same tests)"
fi
echo "== freechat-sdk 0.1.0 against a real server"
# `cargo test` has just built the debug binary (the CLI tests run it), in CARGO_TARGET_DIR
# when that is set (a build cache outside the clone), else in target/.
target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$PWD/$target_dir"
export GATEHOUSE_BIN="${GATEHOUSE_BIN:-$target_dir/debug/gatehouse}"
tests/freechat/run.sh
tests/alsid/run.sh
tests/cloudsmith/run.sh
tests/trieve/run.sh
echo "== the native OpenAPI document through openapi-spec-validator"
tests/openapi/run.sh
echo "== the web pages in headless Chromium (screenshots: target/ui-screenshots/)"
# tests/web/run.sh skips with a message when chromium or chromedriver is missing, and fails
# instead when GATEHOUSE_REQUIRE_BROWSER=1 (.ci/run sets it).
tests/web/run.sh
echo "== promtool check metrics on a real server's /metrics"
# Both Debian drills skip with a message off Debian or (the package) when not root, and fail
# instead when GATEHOUSE_REQUIRE_PACKAGE=1 (.ci/run sets it).
tests/metrics/run.sh
echo "== the Debian package: build, dpkg -i, run as the unit does, upgrade, purge"
tests/package/run.sh
echo "== all tests passed"
