#!/usr/bin/env bash
# Runs the hunting-query benchmark: Vigil (KQL) and DuckDB (SQL) over the same Parquet files,
# in one run, and prints the median times and their ratio. Usage: bench/run.sh [ROWS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
runs=${2:-5}
data="bench/data/$rows"

if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
fi
bench/.venv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt

cargo build --release --quiet --workspace --bins
target="${CARGO_TARGET_DIR:-target}/release"
if [ ! -f "$data/complete" ]; then
  rm -rf "$data"
  "$target/vigil-bench" generate --rows "$rows" --out "$data"
  touch "$data/complete"
fi

mkdir -p bench/results
"$target/vigil-bench" run --data "$data" --queries bench/queries.json --runs "$runs" > bench/results/vigil.jsonl
bench/.venv/bin/python bench/duckdb_side.py "$data" bench/queries.json "$runs" > bench/results/duckdb.jsonl
python3 bench/report.py bench/results/vigil.jsonl bench/results/duckdb.jsonl "$rows" "$runs"
