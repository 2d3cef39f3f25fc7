#!/usr/bin/env bash
# Shows what bin/ensure.sh would change (a change set, not executed).
set -euo pipefail
# shellcheck source=bin/_env.sh
source "$(dirname "$0")/_env.sh"

build_zip
deploy --no-execute-changeset
