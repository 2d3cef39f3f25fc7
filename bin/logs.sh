#!/usr/bin/env bash
# Follows the function's logs.
set -euo pipefail
# shellcheck source=bin/_env.sh
source "$(dirname "$0")/_env.sh"

aws logs tail "/aws/lambda/$PROJECT_NAME" --follow --format short "$@"
