# A toolbox with everything bin/ needs to build, test and deploy aws-exec:
#   docker build -t aws-exec-tools .
#   docker run -it --rm -v "$PWD":/code -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#     -e AWS_SESSION_TOKEN aws-exec-tools bin/ensure.sh
FROM rust:1-bookworm

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

RUN rustup target add aarch64-unknown-linux-gnu "$(uname -m)-unknown-linux-musl" \
 && rustup component add rustfmt clippy \
 && cargo install s3s-fs --version 0.14.1 --features binary --locked

WORKDIR /code
CMD ["bash"]
