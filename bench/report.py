"""Joins the two sides' timings into one table: median times, their ratio, and whether both
produced the same result (rows and a checksum)."""
import json
import os
import platform
import sys


def load(path):
    with open(path) as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {row["name"]: row for row in rows}


def main(vigil_path, duckdb_path, rows, runs):
    vigil, duckdb = load(vigil_path), load(duckdb_path)
    print(f"{int(rows):,} rows, median of {runs} runs, {platform.machine()} with {os.cpu_count()} cores\n")
    print("| query | Vigil (s) | DuckDB (s) | Vigil / DuckDB | same result |")
    print("|---|---:|---:|---:|---|")
    failures = []
    for name, v in vigil.items():
        d = duckdb.get(name)
        if d is None:
            continue
        ratio = v["median_seconds"] / d["median_seconds"]
        same = v["digest"] == d["digest"]
        if not same:
            failures.append(f"{name}: vigil {v['digest']} vs duckdb {d['digest']}")
        print(f"| {name} | {v['median_seconds']:.3f} | {d['median_seconds']:.3f} | {ratio:.2f}x | {'yes' if same else 'NO'} ({v['digest']}) |")
    for failure in failures:
        print(f"\nresult mismatch: {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(*sys.argv[1:5])
