#!/usr/bin/env bash
# Lints: Rust formatting, the backend's import layering, clippy, the page's JavaScript types, infra.yaml, shell scripts.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
# The backend's layers: no import circles, and nothing in a job's life imports from above it.
bin/module-graph.py --check
bin/module-graph.py --check crates/core/src
# Every target, tests included: the test kit turns the backend's `aws` feature on.
cargo clippy --workspace --all-targets -- -D warnings
# The two binaries as `cargo build` makes them, without the AWS parts.
cargo clippy -p aws-exec --bins -- -D warnings
# The command line alone, as its static musl build compiles it (no backend, no AWS SDK).
cargo clippy -p aws-exec --bin aws-exec --no-default-features --target "$(uname -m)-unknown-linux-musl" -- -D warnings
# The service as the Lambda zip builds it: static against musl, with the AWS parts.
cargo clippy -p aws-exec --bin aws-exec-server --features aws --target "$(uname -m)-unknown-linux-musl" -- -D warnings
npm --prefix frontend run typecheck --silent
.venv/bin/cfn-lint infra.yaml
# Each finding either fixed or skipped in the template with its reason (--skip-download:
# no network, the checks ship with it).
.venv-checkov/bin/checkov -f infra.yaml --framework cloudformation --compact --quiet --skip-download
shellcheck -x bin/*.sh .ci/run
