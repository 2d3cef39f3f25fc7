#!/usr/bin/env bash
# Fuzzes a running `aws-exec serve` against its own OpenAPI document (/api/openapi.json)
# with schemathesis: no 5xx, every answer as the document says (status, content type,
# schema), every 4xx a JSON error. Uses the debug binary that bin/test.sh builds.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/aws-exec"
work=$(mktemp -d)
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --addr 127.0.0.1:0 --data-dir "$work/data" --max-timeout 10s >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 100); do
  grep -q '^aws-exec serving ' "$work/serve.out" 2>/dev/null && break
  sleep 0.1
done
url=$(sed -n 's/^aws-exec serving \([^ ]*\).*/\1/p' "$work/serve.out")
key=$(sed -n 's/^ *export AUTH=//p' "$work/serve.out")
if [ -z "$url" ] || [ -z "$key" ]; then
  echo "fuzz-api.sh: serve did not start" >&2
  cat "$work/serve.err" >&2
  exit 1
fi

# A job that exists, so that the calls taking a uid reach past "no such job".
uid=$(curl -fsS -H "auth: $key" -d '{"argv": ["echo", "fuzzed"]}' "$url/api/exec" | sed -n 's/.*"uid":"\([^"]*\)".*/\1/p')
[ -n "$uid" ] || { echo "fuzz-api.sh: could not submit a job" >&2; exit 1; }

# A schedule, a trigger and a secret that exist, for the calls that take a name (a delete among the
# generated calls may remove them; a valid PUT among them makes them again).
curl -fsS -X PUT -H "auth: $key" -d '{"cron": "0 3 * * *", "exec": {"argv": ["true"]}}' \
  "$url/api/schedules/fuzzed" >/dev/null
curl -fsS -X PUT -H "auth: $key" -d '{"prefix": "in/", "exec": {"argv": ["true"]}}' \
  "$url/api/triggers/fuzzed" >/dev/null
curl -fsS -X PUT -H "auth: $key" -d '{"value": "fuzzed-secret"}' "$url/api/secrets/FUZZED" >/dev/null
curl -fsS -X PUT -H "auth: $key" -d '{"cron": "0 3 * * *", "exec": {"argv": ["true"]}, "state": true}' \
  "$url/api/schedules/fuzzed-state" >/dev/null
curl -fsS -X PUT -H "auth: $key" -d '{"prefix": "st/", "exec": {"argv": ["true"]}, "state": true}' \
  "$url/api/triggers/fuzzed-state" >/dev/null

# From the scratch directory: schemathesis keeps its caches in the working directory.
cd "$work"
AWS_EXEC_FUZZ_KEY="$key" AWS_EXEC_FUZZ_UID="$uid" timeout 600 "$OLDPWD/.venv/bin/st" --config-file "$OLDPWD/bin/fuzz-api.toml" \
  run "$url/api/openapi.json"
