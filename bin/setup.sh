#!/usr/bin/env bash
# Installs what the checks and tests use; quick when everything is already there.
#   apt: shellcheck, chromium (browser tests)      npm: frontend/ dev tools (playwright-core, tsc)
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "setup.sh: need root (or sudo) to run: $*" >&2; return 1
  fi
}

need_apt=()
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup.sh: installing ${need_apt[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
