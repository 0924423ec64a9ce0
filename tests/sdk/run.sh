#!/usr/bin/env bash
# Microsoft's Python SDKs against a real `vigil serve --tls-self-signed`: installs them from
# PyPI into a virtual environment outside the clone, starts a server on a fresh data dir,
# loads the Keeper Security table and DCR as they are, registers a publisher and a reader,
# and runs sdk_roundtrip.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vigil="${VIGIL_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/vigil/target}/release/vigil}"
conformance="${VIGIL_CONFORMANCE_DIR:?set VIGIL_CONFORMANCE_DIR}"
venv="${VIGIL_VENV:-$HOME/.cache/vigil/venv}"

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

data="$(mktemp -d)"
log="$data/serve.log"
cleanup() { [ -n "${server:-}" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$data" "$data.key"; }
trap cleanup EXIT

RUST_LOG=debug "$vigil" serve --data-dir "$data" --listen 127.0.0.1:0 --tls-self-signed >"$log" 2>&1 &
server=$!
# Waits for the server's URL line as long as it runs (the guard only stops a hung start).
for _ in $(seq 1 3000); do
  url="$(grep -o 'https://127.0.0.1:[0-9]*' "$log" | head -1 || true)"
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || { cat "$log"; echo "the server did not start" >&2; exit 1; }

keeper="$conformance/sentinel/keeper-security"
"$vigil" table create --data-dir "$data" --file "$keeper/KepperSecurity_table.json" >/dev/null
dcr_json="$("$vigil" dcr create --data-dir "$data" --file "$keeper/KeeperSecurityEventLogs_DCR.json")"
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
dcr="$(echo "$dcr_json" | field "['immutable_id']")"
workspace="$("$vigil" workspace list --data-dir "$data" | field "[0]['id']")"
publisher="$("$vigil" app create --data-dir "$data" --name keeper --role "Monitoring Metrics Publisher" --scope "dcr/$dcr")"
reader="$("$vigil" app create --data-dir "$data" --name analyst --role Reader --scope workspace/default)"

export VIGIL_URL="$url" VIGIL_WORKSPACE_ID="$workspace" VIGIL_DCR_ID="$dcr"
export VIGIL_TENANT_ID="$(echo "$publisher" | field "['tenant_id']")"
export VIGIL_PUBLISHER_ID="$(echo "$publisher" | field "['client_id']")"
export VIGIL_PUBLISHER_SECRET="$(echo "$publisher" | field "['client_secret']")"
export VIGIL_READER_ID="$(echo "$reader" | field "['client_id']")"
export VIGIL_READER_SECRET="$(echo "$reader" | field "['client_secret']")"
export REQUESTS_CA_BUNDLE="$data/tls/cert.pem" SSL_CERT_FILE="$data/tls/cert.pem"
if ! "$venv/bin/python" "$here/sdk_roundtrip.py"; then
  echo "--- server log" >&2; cat "$log" >&2; exit 1
fi
# The CLI through the same query API, with the reader's credentials.
count="$(VIGIL_CLIENT_ID="$VIGIL_READER_ID" VIGIL_CLIENT_SECRET="$VIGIL_READER_SECRET" \
  "$vigil" query --server "$url" --ca-cert "$data/tls/cert.pem" --format csv "KeeperSecurityEventNewLogs_CL | count")"
if [ "$(echo "$count" | tr -d '\r' | tail -1)" != "3000" ]; then
  echo "FAILED: vigil query --server counted: $count" >&2; exit 1
fi
echo "vigil query --server: counted 3000 records through the query API"
# The log must hold the requests (at debug level) for its cleanliness to mean anything.
grep -q "token issued" "$log" || { echo "FAILED: the server log does not record token requests" >&2; exit 1; }
if grep -qF -e "$VIGIL_PUBLISHER_SECRET" -e "$VIGIL_READER_SECRET" "$log"; then
  echo "FAILED: a client secret appears in the server log" >&2; exit 1
fi
if grep -qE "eyJ[A-Za-z0-9_-]{20,}\\.eyJ" "$log"; then
  echo "FAILED: a bearer token appears in the server log" >&2; exit 1
fi
echo "sdk: azure-identity, azure-monitor-ingestion and azure-monitor-query work against vigil serve"
