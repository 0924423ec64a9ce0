#!/usr/bin/env bash
# Fuzzes KQL: fuzz/run.sh [SECONDS] [TARGET]. TARGET is `parse` (the parser alone, the default)
# or `query` (the editor's check and a run of the query with the server's kind of limits).
# Seeds the corpus with the queries of the shared conformance corpora, so the fuzzer starts
# from real KQL.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
target=${2:-parse}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
corpus=corpus/$target
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
# Queries allocate through DataFusion's pool; the fuzzer's own cap sits above the engine's.
RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$corpus" -- \
  -max_total_time="$seconds" -max_len=4096 -timeout=30 -rss_limit_mb=4096
