#!/usr/bin/env bash
# Deletes the stack. The bucket is kept (jobs and auth keys); empty and remove it by hand:
#   aws s3 rb "s3://$PROJECT_BUCKET" --force
set -euo pipefail
# shellcheck source=bin/_env.sh
source "$(dirname "$0")/_env.sh"

sam delete --stack-name "$PROJECT_NAME" --region "$AWS_DEFAULT_REGION" --no-prompts
echo "kept s3://$PROJECT_BUCKET" >&2
