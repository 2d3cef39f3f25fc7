#!/usr/bin/env bash
# Runs every test: unit tests, integration tests against real servers on loopback, and the
# browser tests. Under CI=true a missing test dependency is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc --quiet
else
  cargo test --workspace
fi
