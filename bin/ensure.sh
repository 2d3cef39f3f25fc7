#!/usr/bin/env bash
# Builds the arm64 Lambda zip and creates or updates the stack in infra.yaml.
set -euo pipefail
# shellcheck source=bin/_env.sh
source "$(dirname "$0")/_env.sh"

build_zip
deploy --no-confirm-changeset
aws cloudformation describe-stacks --stack-name "$PROJECT_NAME" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text
