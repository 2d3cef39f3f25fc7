# Sourced by the deploy scripts: loads env.sh and checks what they need.
# shellcheck shell=bash
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
if [ ! -f env.sh ]; then
  echo "no env.sh: cp env.sh.template env.sh and fill it in" >&2
  exit 1
fi
# shellcheck source=/dev/null
source env.sh
for var in PROJECT_NAME PROJECT_BUCKET AWS_DEFAULT_REGION; do
  if [ -z "${!var:-}" ]; then
    echo "env.sh: $var is not set" >&2
    exit 1
  fi
done
if [ -x .venv/bin/cargo-lambda ]; then PATH="$PWD/.venv/bin:$PATH"; fi

# The stack's parameters, from env.sh.
stack_parameters() {
  printf '%s\n' \
    "ProjectName=$PROJECT_NAME" \
    "BucketName=$PROJECT_BUCKET" \
    "ProjectDomain=${PROJECT_DOMAIN:-}" \
    "CertificateArn=${PROJECT_CERTIFICATE_ARN:-}" \
    "JobsRetentionDays=${JOBS_RETENTION_DAYS:-1}" \
    "MemorySize=${MEMORY_SIZE:-1024}" \
    "ReservedConcurrency=${RESERVED_CONCURRENCY:--1}" \
    "JobsReservedConcurrency=${JOBS_RESERVED_CONCURRENCY:--1}" \
    "ApiRateLimit=${API_RATE_LIMIT:-50}" \
    "ApiBurstLimit=${API_BURST_LIMIT:-100}" \
    "HousekeepingSchedule=${HOUSEKEEPING_SCHEDULE-rate(30 minutes)}" \
    "RunnerImage=${RUNNER_IMAGE:-}" \
    "RunnerVpcId=${LONG_RUNNER_VPC:-}" \
    "RunnerSubnets=${LONG_RUNNER_SUBNETS:-}" \
    "LongMaxTimeout=${LONG_MAX_TIMEOUT:-43200}"
}

# Whether env.sh asks for the long runner: LONG_RUNNER=1 (in a VPC the stack makes), or
# a VPC and subnets of one's own.
wants_long_runner() {
  [ "${LONG_RUNNER:-}" = 1 ] || [ -n "${LONG_RUNNER_SUBNETS:-}" ]
}

# With the long runner asked for: builds its image from the binary build_zip made, pushes
# it to the stack's ECR repository and sets RUNNER_IMAGE for deploy.
push_runner_image() {
  if ! wants_long_runner; then return 0; fi
  local account repo tag
  account=$(aws sts get-caller-identity --query Account --output text)
  repo="$account.dkr.ecr.$AWS_DEFAULT_REGION.amazonaws.com/$PROJECT_NAME-runner"
  aws ecr describe-repositories --repository-names "$PROJECT_NAME-runner" >/dev/null 2>&1 \
    || aws ecr create-repository --repository-name "$PROJECT_NAME-runner" >/dev/null
  tag=$(sha256sum target/lambda/aws-exec-server/bootstrap | cut -c1-16)
  aws ecr get-login-password | docker login --username AWS --password-stdin "${repo%%/*}"
  docker build --platform linux/arm64 --target runner -t "$repo:$tag" .
  docker push "$repo:$tag"
  export RUNNER_IMAGE="$repo:$tag"
}

# Builds target/lambda/aws-exec-server/bootstrap.zip (the service's binary) for Lambda's arm64:
# position-independent against glibc, or with LAMBDA_STATIC=1 static against musl at a fixed
# address (a cold start about 0.6 ms quicker, its code no longer placed at random: see the README's
# Security and Benchmarks).
build_zip() {
  local target=aarch64-unknown-linux-gnu
  if [ "${LAMBDA_STATIC:-}" = 1 ]; then target=aarch64-unknown-linux-musl; fi
  rustup target add "$target" >/dev/null
  cargo lambda build --profile lambda-release --target "$target" --output-format zip --package aws-exec --features aws --bin aws-exec-server
  ls -l target/lambda/aws-exec-server/bootstrap.zip
  # The long runner's image wants the binary itself, beside the zip.
  if wants_long_runner; then
    unzip -o -q target/lambda/aws-exec-server/bootstrap.zip -d target/lambda/aws-exec-server
  fi
}

# sam deploy with this project's settings; extra flags pass through.
deploy() {
  local params=()
  mapfile -t params < <(stack_parameters)
  sam deploy \
    --template-file infra.yaml \
    --stack-name "$PROJECT_NAME" \
    --region "$AWS_DEFAULT_REGION" \
    --resolve-s3 \
    --capabilities CAPABILITY_IAM \
    --no-fail-on-empty-changeset \
    --parameter-overrides "${params[@]}" \
    "$@"
}
