#!/usr/bin/env bash
# Every check and test Gatehouse has, in the order a failure is cheapest to see:
# formatting, lints, the Rust tests (unit, Store contract, HTTP, CLI), then the published
# freechat-sdk client against a real server process. Needs: cargo, python3 (with venv);
# the Python packages are installed into target/pyenv on first run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
echo "== freechat-sdk 0.1.0 against a real server"
# `cargo test` has just built target/debug/gatehouse (the CLI tests run it).
tests/freechat/run.sh
echo "== all tests passed"
