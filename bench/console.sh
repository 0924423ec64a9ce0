#!/usr/bin/env bash
# The console's incident queue at 10,000 incidents: starts `vigil demo --burst 10000 --rate 0`
# on a free port, waits until the API counts 10,000 incidents (and says how long that took), then
# drives the queue in Debian's chromium (playwright-core): next page ×10, sort changes, filter
# changes, each timed from the click to the new rows rendered (target < 300 ms), beside the raw
# API call for the same 50-row page. Writes bench/results/console.json.
# Usage: bench/console.sh [INCIDENTS]   (VIGIL=path/to/vigil to use a binary built elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
incidents="${1:-10000}"
target="${CARGO_TARGET_DIR:-target}/release"
if [ -z "${VIGIL:-}" ]; then
  cargo build --release --quiet --workspace --bins
  VIGIL="$target/vigil"
fi
if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
fi
if [ ! -d console/node_modules/playwright-core ]; then
  (cd console && npm ci --no-audit --no-fund --loglevel=error)
fi

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
data="$(mktemp -d)"
rmdir "$data"
log="$(mktemp)"
started_ms="$(date +%s%3N)"
"$VIGIL" demo --data-dir "$data" --listen "127.0.0.1:$port" --burst "$incidents" --rate 0 >"$log" 2>&1 &
demo=$!
trap 'kill $demo 2>/dev/null || true; wait $demo 2>/dev/null || true; rm -rf "$data" "$log"' EXIT
for _ in $(seq 1 150); do
  [ -f "$data/owner-credential.json" ] && grep -q "Vigil listening" "$log" && break
  sleep 0.2
done
grep -q "Vigil listening" "$log" || { cat "$log" >&2; echo "vigil demo did not start" >&2; exit 1; }

mkdir -p bench/results
VIGIL_URL="https://127.0.0.1:$port" \
VIGIL_CREDENTIAL="$data/owner-credential.json" \
VIGIL_STARTED="$started_ms" \
BENCH_INCIDENTS="$incidents" \
BENCH_RESULTS="$repo/bench/results/console.json" \
  node console/tests/queue-bench.mjs
