#!/usr/bin/env bash
# Runs every test: unit tests, integration tests against real servers on loopback, and the
# browser tests in Debian's chromium. Installs missing test tools first (bin/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bin/setup.sh

cargo build --workspace --all-targets
# The command line's static build, which tests run beside the default one.
cargo build -p aws-exec --bin aws-exec --no-default-features --target "$(uname -m)-unknown-linux-musl"
# The service's static build (LAMBDA_STATIC=1 deploys it), which a test runs.
cargo build -p aws-exec --bin aws-exec-server --features aws --target "$(uname -m)-unknown-linux-musl"
# One process per test: a serve in a test process sweeps that process's stray children.
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc --quiet

echo "== the running service fuzzed against its OpenAPI document"
bin/fuzz-api.sh

echo "== browser tests (screenshots in frontend/tests/screenshots/)"
AWS_EXEC_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/aws-exec" npm --prefix frontend test --silent
