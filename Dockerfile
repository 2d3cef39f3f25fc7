# Two images.
#
# The long runner (jobs past Lambda's 15 minutes run in it as ECS Fargate tasks): the same
# arm64 binary as the function, on a base with a shell and the usual tools for jobs.
# bin/ensure.sh builds and pushes it when LONG_RUNNER_SUBNETS is set in env.sh:
#   docker build --platform linux/arm64 --target runner -t aws-exec-runner .
FROM public.ecr.aws/amazonlinux/amazonlinux:2023 AS runner
RUN dnf install -y --setopt=install_weak_deps=False tar gzip python3 shadow-utils \
 && dnf clean all
# Built by bin/ensure.sh (cargo lambda build --profile lambda-release --target
# aarch64-unknown-linux-gnu --features aws, or -musl with LAMBDA_STATIC=1): the function's binary.
COPY target/lambda/aws-exec-server/bootstrap /usr/local/bin/aws-exec-server
ENTRYPOINT ["/usr/local/bin/aws-exec-server"]

# A toolbox with everything bin/ needs to build, test and deploy aws-exec (the default
# target):
#   docker build -t aws-exec-tools .
#   docker run -it --rm -v "$PWD":/code -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#     -e AWS_SESSION_TOKEN aws-exec-tools bin/ensure.sh
FROM rust:1-bookworm AS tools

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv shellcheck nodejs npm chromium ca-certificates musl-tools \
 && rm -rf /var/lib/apt/lists/*

# Python tools in one venv: AWS CLI and SAM CLI for deploys, plus the test/lint/packaging
# tools from requirements-dev.txt (cargo-lambda brings zig for the arm64 cross build).
COPY requirements-dev.txt /tmp/requirements-dev.txt
RUN python3 -m venv /opt/tools \
 && /opt/tools/bin/pip install --no-cache-dir awscli aws-sam-cli -r /tmp/requirements-dev.txt
ENV PATH="/opt/tools/bin:${PATH}"

RUN rustup target add aarch64-unknown-linux-gnu aarch64-unknown-linux-musl "$(uname -m)-unknown-linux-musl" \
 && rustup component add rustfmt clippy \
 && cargo install s3s-fs --version 0.14.1 --features binary --locked

WORKDIR /code
CMD ["bash"]
