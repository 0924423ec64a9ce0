#!/usr/bin/env bash
# The detection benchmark: 1,000 Scheduled analytics rules (Sentinel YAML, queryFrequency
# PT5M) imported into a real `vigil serve` under steady ingest of sign-in events, watched for
# two full 5-minute cycles after their first runs. Reports runs, failures, alerts, how late
# each run started after the end of its ingestion-time window (the target: < 1 min), run time
# per rule and server CPU per run; writes bench/results/rules.json. About 14 minutes.
# Usage: bench/rules.sh [--rules N] [--rate EVENTS_PER_S] [--baseline S] [--duration S] ...
#        (VIGIL=path/to/vigil to use a binary built elsewhere; see bench/rules.py --help)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}/release"
if [ -z "${VIGIL:-}" ]; then
  cargo build --release --quiet --workspace --bins
  VIGIL="$target/vigil"
fi
if [ ! -x bench/.venv/bin/python ]; then python3 -m venv bench/.venv; fi
bench/.venv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
mkdir -p bench/results
exec bench/.venv/bin/python bench/rules.py --vigil "$VIGIL" "$@"
