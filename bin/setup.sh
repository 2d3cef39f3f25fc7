#!/usr/bin/env bash
# Installs what the checks and tests use; quick when everything is already there.
#   apt:   a C compiler (cargo's linker; ring and mimalloc), shellcheck, e2fsprogs (chattr),
#          chromium (browser
#          tests), python3-venv, curl (bin/fuzz-api.sh), task-spooler (the baseline of the
#          transport benchmark), musl-tools (C for the static musl builds)
#   rustup: the musl target of this machine (the static builds of both binaries, checked,
#           tested and benchmarked)
#   npm:   frontend/ dev tools (playwright-core, tsc)
#   .venv: moto_server, boto3, cfn-lint, cargo-lambda (requirements-dev.txt)
#   .venv-checkov: checkov, the template's security scan (requirements-checkov.txt)
#   cargo: s3s-fs 0.14.1 (an S3 server that checks signatures), cargo-nextest (runs each
#          test in a process of its own, which the service's process-wide stray sweep needs)
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "setup.sh: need root (or sudo) to run: $*" >&2; return 1
  fi
}

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# chattr: a test makes a job's folder immutable to fail the write of its end.
command -v chattr >/dev/null 2>&1 || need_apt+=(e2fsprogs)
command -v tsp >/dev/null 2>&1 || need_apt+=(task-spooler)
# ipcmk: a test leaves System V IPC in a job (serve removes it with util-linux's ipcrm).
command -v ipcmk >/dev/null 2>&1 || need_apt+=(util-linux)
command -v musl-gcc >/dev/null 2>&1 || need_apt+=(musl-tools)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup.sh: installing ${need_apt[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ requirements-dev.txt -nt .venv/.installed ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  touch .venv/.installed
fi
# checkov in a venv of its own: its pins of boto3 and friends are not moto's.
if [ ! -x .venv-checkov/bin/python ]; then
  python3 -m venv .venv-checkov
fi
if [ ! -f .venv-checkov/.installed ] || [ requirements-checkov.txt -nt .venv-checkov/.installed ]; then
  .venv-checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
  touch .venv-checkov/.installed
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked --quiet
fi
if ! s3s-fs --version 2>/dev/null | grep -q '0.14.1'; then
  cargo install s3s-fs --version 0.14.1 --features binary --locked --quiet
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
musl_target="$(uname -m)-unknown-linux-musl"
# grep reads the whole list: with -q it could stop early and fail the pipe.
if ! rustup target list --installed | grep -x "$musl_target" >/dev/null; then
  rustup target add "$musl_target"
fi
