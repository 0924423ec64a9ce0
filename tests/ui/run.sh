#!/usr/bin/env bash
# The console in a real browser: installs Debian's chromium (when missing) and the console's npm
# packages, checks that the committed console/dist is what the sources build to, starts
# `vigil demo` on a free port, and drives the console with playwright-core, once in English and
# once in Japanese; then imports the 12 workbooks of the Sentinel development set (with their
# solutions or parsers) and opens every tab of each (console/tests/workbooks.test.mjs).
# Screenshots go to target/ui-screenshots/. The development set is VIGIL_CONFORMANCE_DIR (found
# as .ci/run finds it when unset).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
vigil="${VIGIL_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/vigil/target}/release/vigil}"
[ -x "$vigil" ] || { echo "no vigil binary at $vigil (build it, or set VIGIL_BIN)" >&2; exit 1; }
if [ -z "${VIGIL_CONFORMANCE_DIR:-}" ]; then
  for candidate in "$repo/../shared/conformance" /work/shared/conformance; do
    if [ -d "$candidate/sentinel/workbooks" ]; then
      VIGIL_CONFORMANCE_DIR="$(cd "$candidate" && pwd)"
      break
    fi
  done
fi
export VIGIL_CONFORMANCE_DIR="${VIGIL_CONFORMANCE_DIR:?the shared conformance corpora were not found; set VIGIL_CONFORMANCE_DIR}"
[ -d "$VIGIL_CONFORMANCE_DIR/sentinel/workbooks" ] || { echo "no sentinel/workbooks in $VIGIL_CONFORMANCE_DIR" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null
fi
if ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ! fc-list 2>/dev/null | grep -qi "Noto Color Emoji"; then
  # Japanese pages need a CJK font, and workbook labels (⏱️ Time Range) an emoji font, or the
  # screenshots show boxes.
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends fonts-noto-cjk fonts-noto-color-emoji >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-noto-cjk fonts-noto-color-emoji >/dev/null; }
fi

cd "$repo/console"
# The lock holds every platform's optional packages (rollup's native builds) with their integrity
# and no registry addresses, so `npm ci` installs exactly it from whichever registry npm is set to,
# and refuses a lock that disagrees with package.json.
npm ci --no-audit --no-fund --loglevel=error
if ! git -C "$repo" diff --quiet -- console/package-lock.json; then
  echo "npm ci changed console/package-lock.json" >&2
  exit 1
fi
# The binary embeds console/dist: it must be exactly what the sources build to.
npm run --silent build >/dev/null
if ! git -C "$repo" diff --quiet -- console/dist || [ -n "$(git -C "$repo" status --porcelain -- console/dist)" ]; then
  echo "console/dist is not what console/src builds to: run 'npm run build' in console/ and commit dist/" >&2
  git -C "$repo" status --short -- console/dist >&2
  exit 1
fi

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
data="$(mktemp -d)"
rmdir "$data"
log="$(mktemp)"
"$vigil" demo --data-dir "$data" --listen "127.0.0.1:$port" --rate 1 >"$log" 2>&1 &
demo=$!
trap 'kill $demo 2>/dev/null || true; wait $demo 2>/dev/null || true; rm -rf "$data" "$data.key"' EXIT
# Waits for the demo's listening line as long as it runs (the guard only stops a hung start).
for _ in $(seq 1 1500); do
  [ -f "$data/owner-credential.json" ] && grep -q "Vigil listening" "$log" && break
  kill -0 "$demo" 2>/dev/null || break
  sleep 0.2
done
grep -q "Vigil listening" "$log" || { cat "$log" >&2; echo "vigil demo did not start" >&2; exit 1; }

export VIGIL_URL="https://127.0.0.1:$port"
export VIGIL_CREDENTIAL="$data/owner-credential.json"
export VIGIL_SCREENSHOTS="$repo/target/ui-screenshots"
mkdir -p "$VIGIL_SCREENSHOTS"
VIGIL_LOCALE=en node "$repo/console/tests/console.test.mjs"
VIGIL_LOCALE=ja node "$repo/console/tests/console.test.mjs"
# Last: importing the development set's solutions adds tables, functions and a watchlist.
node "$repo/console/tests/workbooks.test.mjs"
