#!/usr/bin/env bash
# Builds the arm64 Lambda zip (and, with LONG_RUNNER=1 or LONG_RUNNER_SUBNETS, the long runner's image) and
# creates or updates the stack in infra.yaml.
set -euo pipefail
# shellcheck source=bin/_env.sh
source "$(dirname "$0")/_env.sh"

build_zip
push_runner_image
deploy --no-confirm-changeset
aws cloudformation describe-stacks --stack-name "$PROJECT_NAME" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text
