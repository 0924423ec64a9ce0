#!/usr/bin/env python3
"""Writes standard-tables.tsv from Microsoft's documented table schemas.

Input: a folder of Azure table JSON files, one per standard Azure Monitor Logs table, as the
shared conformance data holds them (../shared/tables). Output: one line per table,
`Name<TAB>column:type<TAB>column:type...`, columns in the documented order. The schemas are
interface facts (what a Log Analytics workspace answers to), not content; the binary embeds
the output. System columns the documentation leaves out (TenantId, ...) are added in Rust,
so this file stays what the documentation says.

Usage: build.py [TABLES_DIR]   (default: ../../../../shared/tables from this file)
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
KNOWN_TYPES = {"string", "int", "long", "real", "bool", "datetime", "timespan", "guid", "dynamic", "decimal"}


def main() -> None:
    source = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "../../../../shared/tables"
    lines = []
    for path in sorted(source.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))["properties"]["schema"]
        columns = []
        for column in schema["columns"]:
            name, kind = column["name"], column["type"].lower()
            if kind not in KNOWN_TYPES or "\t" in name or ":" in name:
                sys.exit(f"{path.name}: column {name!r} has type {kind!r}")
            columns.append(f"{name}:{kind}")
        lines.append("\t".join([schema["name"], *columns]))
    out = HERE / "standard-tables.tsv"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} tables written to {out}")


if __name__ == "__main__":
    main()
