#!/usr/bin/env bash
# Runs every test: unit tests, integration tests against real servers on loopback, and the
# browser tests in Debian's chromium. Installs missing test tools first (bin/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bin/setup.sh

cargo build --workspace --all-targets
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc --quiet
else
  cargo test --workspace
fi

echo "== the running service fuzzed against its OpenAPI document"
bin/fuzz-api.sh

echo "== browser tests (screenshots in frontend/tests/screenshots/)"
AWS_EXEC_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/aws-exec" npm --prefix frontend test --silent
