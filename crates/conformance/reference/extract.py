#!/usr/bin/env python3
"""Extracts the KQL reference's runnable examples into kql-reference-examples.json.

Usage: extract.py DATAEXPLORER_DOCS_CHECKOUT SHARED_DEV_CORPUS > examples.json

Every ```kusto block of data-explorer/kusto/query/**.md that the page follows with an Output table
becomes a case in the shared corpus's shape (id = page#sha256(query)[:8]), except the cases the
shared development corpus already holds and those that read the Samples database (StormEvents...),
which no example defines. Cells are kept as the page prints them; the runner compares them.
"""
import hashlib
import json
import re
import subprocess
import sys

# Tables of the help cluster's Samples database (and of examples that assume a table of their own).
SAMPLE_TABLES = [
    "StormEvents", "PopulationData", "ConferenceSessions", "TransformedSensorsData", "PageViewsHllTDigest",
    "PageViewsSample", "PageViews", "TraceLogs", "nyc_taxi", "SalesFact", "SalesDynamic", "Products",
    "Customers", "SalesTable", "demo_make_series1", "demo_series3", "Covid19", "ContosoSales",
]
BUILDS_INPUT = re.compile(r"(^|\n|;|\()\s*(print|datatable|range|let)\b")


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, check=True).stdout


def split_row(line):
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells, current, i = [], "", 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == "|":
            current += "\\|"
            i += 2
            continue
        if line[i] == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += line[i]
        i += 1
    cells.append(current.strip())
    return cells


def examples(repo, path):
    lines = git(repo, "show", "HEAD:" + path).split("\n")
    i = 0
    while i < len(lines):
        if not re.match(r"^\s*```\s*(kusto|kql)\s*$", lines[i], re.I):
            i += 1
            continue
        j, query = i + 1, []
        while j < len(lines) and not lines[j].strip().startswith("```"):
            query.append(lines[j])
            j += 1
        query = "\n".join(query).strip("\n")
        k, table, saw_output = j + 1, None, False
        while k < len(lines):
            text = lines[k].strip()
            if text.startswith("```") or (text.startswith("#") and not saw_output):
                break
            if re.search(r"output", text, re.I) and not text.startswith("|"):
                saw_output = True
            if text.startswith("|") and saw_output:
                table = []
                while k < len(lines) and lines[k].strip().startswith("|"):
                    table.append(lines[k])
                    k += 1
                break
            k += 1
        if table and len(table) >= 2 and re.match(r"^\|?\s*:?-+", table[1].strip()):
            yield query, split_row(table[0]), [split_row(r) for r in table[2:]]
        i = j + 1


def main():
    repo, dev_corpus = sys.argv[1], sys.argv[2]
    known = {case["id"] for case in json.load(open(dev_corpus))}
    prefix = "data-explorer/kusto/query/"
    paths = [p for p in git(repo, "ls-tree", "-r", "--name-only", "HEAD").split() if p.startswith(prefix) and p.endswith(".md")]
    cases = []
    for path in sorted(paths):
        page = path[len(prefix):-3]
        for query, columns, rows in examples(repo, path):
            case_id = f"{page}#{hashlib.sha256(query.encode()).hexdigest()[:8]}"
            if case_id in known or not BUILDS_INPUT.search(query):
                continue
            if any(re.search(rf"\b{table}\b", query) for table in SAMPLE_TABLES):
                continue
            cases.append({
                "id": case_id,
                "source": "MicrosoftDocs/dataexplorer-docs " + path,
                "query": query,
                "expected": {"columns": columns, "rows": rows},
            })
    json.dump(cases, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
