"""The benchmark's reference side: the same questions in SQL on DuckDB, over the same Parquet.

Prints one JSON line per query with the median time over the runs and a digest of the result
(rows, and the sum of its last numeric column) to compare with Vigil's.
"""
import json
import statistics
import sys
import time

import duckdb


def digest(rows, description):
    numeric = [i for i, column in enumerate(description) if column[1] in ("BIGINT", "INTEGER", "HUGEINT", "DOUBLE", "DECIMAL", "UBIGINT")]
    total = 0
    if numeric:
        index = numeric[-1]
        total = sum(float(row[index]) for row in rows if row[index] is not None)
    return f"rows={len(rows)} sum={round(total)}"


def main(data, queries_path, runs, only=None):
    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW SigninEvents AS SELECT * FROM read_parquet('{data}/signin/**/*.parquet')")
    connection.execute(f"CREATE VIEW Users AS SELECT * FROM read_parquet('{data}/users/*.parquet')")
    with open(queries_path) as handle:
        queries = json.load(handle)
    for query in queries:
        if only and query["name"] != only:
            continue
        times = []
        result_digest = ""
        for _ in range(runs):
            started = time.perf_counter()
            cursor = connection.execute(query["sql"])
            rows = cursor.fetchall()
            times.append(time.perf_counter() - started)
            description = [(d[0], str(d[1]).upper()) for d in cursor.description]
            result_digest = digest(rows, description)
        print(json.dumps({"name": query["name"], "engine": "duckdb", "median_seconds": statistics.median(times), "runs": times, "digest": result_digest}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
