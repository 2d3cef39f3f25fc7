#!/usr/bin/env bash
# Runs the aws-exec CLI with env.sh's settings (PROJECT_URL or PROJECT_DOMAIN, AUTH, and
# PROJECT_BUCKET for `auth`), e.g. bin/cli.sh auth new alice; bin/cli.sh exec -- uname -a
set -euo pipefail
# shellcheck source=bin/_env.sh
source "$(dirname "$0")/_env.sh"

exec cargo run --release --quiet --package aws-exec --features aws -- "$@"
