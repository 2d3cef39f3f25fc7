#!/usr/bin/env bash
# Lints: formatting, clippy, shell scripts.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck bin/*.sh .ci/run
elif [ "${CI:-}" = true ]; then
  echo "check.sh: shellcheck is missing" >&2
  exit 1
fi
