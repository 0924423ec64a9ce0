#!/usr/bin/env bash
# Fuzzes the KQL parser: fuzz/run.sh [SECONDS]. Seeds the corpus with the queries of the shared
# conformance corpora, so the fuzzer starts from real KQL.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
corpus=corpus/parse
mkdir -p "$corpus"
shared=${VIGIL_CONFORMANCE_DIR:-../../shared/conformance}
if [ -d "$shared/kql" ]; then
  python3 - "$shared/kql" "$corpus" <<'PY'
import json, sys, pathlib
source, corpus = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for file in source.glob("*.json"):
    for index, case in enumerate(json.loads(file.read_text())):
        (corpus / f"{file.stem}-{index:04d}.kql").write_text(case["query"])
PY
fi
# The machine has one stable toolchain; RUSTC_BOOTSTRAP lets it take the sanitizer flags.
RUSTC_BOOTSTRAP=1 cargo fuzz run parse "$corpus" -- -max_total_time="$seconds" -max_len=4096 -timeout=10
