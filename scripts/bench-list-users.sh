#!/usr/bin/env bash
# Admin user listing at a million users on SQLite (not a test; run by hand).
# Seeds USERS (default 1 000 000) accounts into DATA_DIR (default target/bench-list-users,
# reused on later runs) with a release build, then prints p50/p99/max per page for the
# pages an admin console asks for. Goal: every page under 20 ms.
# Environment: USERS, PAGE (default 50), REPEAT (default 200), DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p loadbench --bin bench-list-users
exec target/release/bench-list-users "${DATA_DIR:-target/bench-list-users}"
