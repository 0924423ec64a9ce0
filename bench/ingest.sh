#!/usr/bin/env bash
# The ingestion benchmark, in one run: a real `vigil serve` over HTTPS (self-signed), ~1 KB
# sign-in events in gzip batches from a load generator on the same machine, durable (WAL
# fsynced before each 204). Reports events/s (wall and per server CPU-second), MB/s, p50/p99
# latency, freshness after a 204, and bytes on disk against the raw JSON; then runs the
# hunting-query benchmark (Vigil vs DuckDB) over the Parquet segments the server wrote.
# Usage: bench/ingest.sh [EVENTS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-2000000}
connections=${2:-8}
target="${CARGO_TARGET_DIR:-target}/release"
cargo build --release --quiet --workspace --bins
if [ ! -x bench/.venv/bin/python ]; then python3 -m venv bench/.venv; fi
bench/.venv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt

data="bench/data/ingested"
rm -rf "$data"; mkdir -p "$data"
server_log="$data/serve.log"
"$target/vigil" serve --data-dir "$data/vigil" --listen 127.0.0.1:0 --tls-self-signed >"$server_log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  url="$(grep -o 'https://127.0.0.1:[0-9]*' "$server_log" | head -1 || true)"; [ -n "$url" ] && break; sleep 0.1
done
[ -n "$url" ] || { cat "$server_log"; exit 1; }

field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
"$target/vigil" table create --data-dir "$data/vigil" --file bench/ingest/SigninEvents_table.json >/dev/null
dcr="$("$target/vigil" dcr create --data-dir "$data/vigil" --file bench/ingest/SigninEvents_dcr.json | field "['immutable_id']")"
workspace="$("$target/vigil" workspace list --data-dir "$data/vigil" | field "[0]['id']")"
publisher="$("$target/vigil" app create --data-dir "$data/vigil" --name loadgen --role publisher --scope "dcr/$dcr")"
reader="$("$target/vigil" app create --data-dir "$data/vigil" --name reader --role Reader --scope workspace/default)"
export VIGIL_CLIENT_ID="$(echo "$publisher" | field "['client_id']")" VIGIL_CLIENT_SECRET="$(echo "$publisher" | field "['client_secret']")"
export VIGIL_READER_ID="$(echo "$reader" | field "['client_id']")" VIGIL_READER_SECRET="$(echo "$reader" | field "['client_secret']")"
tenant="$(echo "$publisher" | field "['tenant_id']")"

mkdir -p bench/results
"$target/vigil-bench" ingest --url "$url" --tenant "$tenant" --dcr "$dcr" --stream Custom-SigninEvents \
  --workspace "$workspace" --ca-cert "$data/vigil/tls/cert.pem" --events "$events" --connections "$connections" \
  --server-pid "$server" > bench/results/ingest.json
kill -TERM "$server"; wait "$server" || true; trap - EXIT

segments="$data/vigil/segments/$workspace/SigninEvents"
disk=$(du -sb "$segments" | cut -f1)
wal=$(du -sb "$data/vigil/wal" | cut -f1)
python3 - "$disk" "$wal" <<'PY'
import json, sys
r = json.load(open("bench/results/ingest.json"))
disk, wal = int(sys.argv[1]), int(sys.argv[2])
print(f"ingest: {r['events']:,} events of ~{r['raw_json_bytes'] / r['events']:.0f} B JSON in {r['requests']} gzip requests, {r['connections']} connections, HTTPS")
print(f"  wall:      {r['events_per_second']:,.0f} events/s, {r['raw_mb_per_second']:.1f} MB/s of raw JSON")
if r['events_per_cpu_second']:
    print(f"  per core:  {r['events_per_cpu_second']:,.0f} events per server CPU-second ({r['server_cpu_seconds']:.1f} CPU-s)")
print(f"  latency:   p50 {r['latency_p50_ms']:.1f} ms, p99 {r['latency_p99_ms']:.1f} ms ({r['retries_after_429_or_503']} retries after 429/503)")
print(f"  freshness: median {r['freshness_ms']['median']:.0f} ms, max {r['freshness_ms']['max']:.0f} ms from 204 to queryable")
print(f"  storage:   {disk:,} B of Parquet for {r['raw_json_bytes']:,} B of JSON: {r['raw_json_bytes'] / disk:.1f}x smaller (WAL after shutdown: {wal:,} B)")
PY

# The steady state the queries meet: restart with compaction every second, wait until the
# small segments of the ingest are merged and the replaced files are gone (after their 60 s
# grace), then stop again.
printf '[storage]\ncompaction_interval_seconds = 1\n' > "$data/compact.toml"
before=$(find "$segments" -name '*.parquet' | wc -l)
"$target/vigil" serve --data-dir "$data/vigil" --config "$data/compact.toml" --listen 127.0.0.1:0 --tls-self-signed >>"$server_log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
started=$SECONDS; last=-1; stable_since=$SECONDS
while true; do
  sleep 5
  now=$(find "$segments" -name '*.parquet' | wc -l)
  if [ "$now" != "$last" ]; then last=$now; stable_since=$SECONDS; fi
  if [ $((SECONDS - started)) -ge 75 ] && [ $((SECONDS - stable_since)) -ge 15 ]; then break; fi
done
kill -TERM "$server"; wait "$server" || true; trap - EXIT
echo "  compaction: $before segments merged into $last"

# The hunting queries over what the server stored.
query_data="$data/query"
mkdir -p "$query_data"
ln -sfn "$(cd "$segments" && pwd)" "$query_data/signin"
"$target/vigil-bench" generate --rows 0 --out "$query_data" >/dev/null
"$target/vigil-bench" run --data "$query_data" --queries bench/queries.json --runs 5 > bench/results/vigil-ingested.jsonl
bench/.venv/bin/python bench/duckdb_side.py "$query_data" bench/queries.json 5 > bench/results/duckdb-ingested.jsonl
python3 bench/report.py bench/results/vigil-ingested.jsonl bench/results/duckdb-ingested.jsonl "$events" 5
