#!/usr/bin/env bash
# Runs `aws-exec serve` locally and restarts it whenever the code or the page changes.
# Arguments go to serve, e.g. bin/dev.sh --addr 127.0.0.1:9000
set -euo pipefail
cd "$(dirname "$0")/.."

fingerprint() {
  find crates frontend -path frontend/node_modules -prune -o -type f \
    \( -name '*.rs' -o -name '*.toml' -o -name '*.html' -o -name '*.js' -o -name '*.css' \) \
    -printf '%p %T@\n' | sort | md5sum
}

pid=
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; }
trap 'stop; exit 0' INT TERM

while true; do
  seen=$(fingerprint)
  if cargo build --quiet --package aws-exec; then
    target/debug/aws-exec serve "$@" &
    pid=$!
  fi
  while [ "$(fingerprint)" = "$seen" ]; do sleep 1; done
  echo "dev.sh: change seen; rebuilding" >&2
  stop
  pid=
done
