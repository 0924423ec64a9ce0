#!/usr/bin/env bash
# The fairness load test: a quiet tenant ingests and queries alone, then beside a noisy tenant
# that floods the token endpoint, holds slow uploads open and runs heavy queries; reports the
# quiet tenant's throughput and p99 latency both times and their ratios (the bar: within 2x).
# About 3 minutes. Usage: bench/fairness.sh [--duration S] ... (see bench/fairness.py --help;
# VIGIL=path/to/vigil to use a binary built elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}/release"
if [ -z "${VIGIL:-}" ]; then
  cargo build --release --quiet --locked -p vigil
  VIGIL="$target/vigil"
fi
if [ ! -x bench/.venv/bin/python ]; then python3 -m venv bench/.venv; fi
bench/.venv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
mkdir -p bench/results
exec bench/.venv/bin/python bench/fairness.py --vigil "$VIGIL" "$@"
