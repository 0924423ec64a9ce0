#!/usr/bin/env python3
"""Writes docs/kql-coverage.md: one line per page of the KQL reference's query section.

Usage: coverage.py DATAEXPLORER_DOCS_CHECKOUT DEV_OUTCOMES.json REFERENCE_OUTCOMES.json > docs/kql-coverage.md

The outcomes come from `vigil-conformance docs --outcomes F` and `vigil-conformance reference
--outcomes F` (every comparable example, null when it passes). A page's status:
- matches: its comparable examples pass, or fail only where the page itself is wrong (baseline
  lines starting "Page:"); the test column names them (both runners run in CI) and the .kqlt
  cases that name the page;
- differs: an example fails for a reason of Vigil's (baseline lines starting "Vigil:");
- missing: no example can run because Vigil lacks the function, operator or plugin;
- not compared: no example of the page is comparable (each reads the Samples database or a cluster,
  or is spatial, external or nondeterministic); the line says whether Vigil knows the name the page
  documents.
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def baseline(path):
    reasons = {}
    for line in open(path, encoding="utf-8"):
        if line.strip() and not line.startswith("#") and "\t" in line:
            key, reason = line.rstrip("\n").rsplit("\t", 1)
            reasons[key.strip()] = reason.strip()
    return reasons


def kqlt_mentions():
    """Page name -> ['tests/kqlt/FILE:LINE', ...] from the comments above the cases."""
    mentions = {}
    folder = os.path.join(ROOT, "tests", "kqlt")
    for name in sorted(os.listdir(folder)):
        for number, line in enumerate(open(os.path.join(folder, name), encoding="utf-8"), 1):
            match = re.match(r"#\s*([a-z0-9/-]+(?:-function|-operator|-plugin|-statement|-values|s))\s*:", line)
            if match:
                mentions.setdefault(match.group(1), []).append(f"tests/kqlt/{name}:{number}")
    return mentions


def known_names():
    """The string literals of the engine's sources: function, operator and plugin names it knows."""
    names = set()
    for folder in ["crates/kql/src", "crates/kql-functions/src", "crates/kql-syntax/src"]:
        for base, _, files in os.walk(os.path.join(ROOT, folder)):
            for file in files:
                if file.endswith(".rs"):
                    names.update(re.findall(r'"([a-z_][a-z0-9_-]*)"', open(os.path.join(base, file), encoding="utf-8").read()))
    return names


def documented_name(page):
    leaf = page.rsplit("/", 1)[-1]
    for suffix, kind in [("-aggregation-function", "function"), ("-function", "function"), ("-operator", "operator"), ("-plugin", "plugin"), ("-statement", "statement")]:
        if leaf.endswith(suffix):
            stem = leaf[: -len(suffix)]
            return (stem.replace("-", "_") if kind in ("function", "plugin") else stem), kind
    return None, None


def main():
    repo, dev_path, reference_path = sys.argv[1:4]
    outcomes = {}
    for path in (dev_path, reference_path):
        outcomes.update(json.load(open(path)))
    reasons = baseline(os.path.join(ROOT, "crates/conformance/data/docs-baseline.txt"))
    reasons.update(baseline(os.path.join(ROOT, "crates/conformance/reference/baseline.txt")))
    mentions = kqlt_mentions()
    known = known_names()
    prefix = "data-explorer/kusto/query/"
    listing = subprocess.run(["git", "-C", repo, "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True, text=True, check=True).stdout
    pages = sorted(p[len(prefix):-3] for p in listing.split() if p.startswith(prefix) and p.endswith(".md"))
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    counts = {}
    rows = []
    for page in pages:
        cases = sorted(case for case in outcomes if case.split("#")[0] == page)
        failing = {case: outcomes[case] for case in cases if outcomes[case] is not None}
        ours = {case: reasons.get(case, "") for case in failing if not reasons.get(case, "").startswith(("Page:", "External:"))}
        tests = [f"`{case}`" for case in cases] + mentions.get(page, [])
        name, kind = documented_name(page)
        if cases and not ours:
            status = "matches"
            if failing:
                status += f" ({len(failing)} of {len(cases)} examples misprinted or external: see the baselines)"
        elif cases and any(re.search(r"not implemented|unknown function|not supported", outcomes[c] + ours[c]) for c in ours) and len(ours) == len(cases):
            status = "missing: " + next(iter(ours.values())).removeprefix("Vigil: ")
        elif cases:
            status = "differs: " + "; ".join(sorted({r.removeprefix("Vigil: ") or "fails: " + failing[c][:100] for c, r in ours.items()}))
        elif name and kind:
            spellings = {name, name.replace("_", ""), name.replace("-", "_")}
            bound = bool(spellings & known) or bool(mentions.get(page))
            status = f"not compared (no comparable example); {name}: " + ("known to Vigil" if bound else "unknown to Vigil")
        else:
            status = "not compared (no runnable example with a printed result)"
        category = status.split(":")[0].split(" (")[0]
        counts[category] = counts.get(category, 0) + 1
        rows.append(f"| {page} | {status.replace('|', '/')} | {', '.join(tests) if tests else '—'} |")
    print("# KQL coverage: the reference page by page")
    print()
    print(f"Generated by `crates/conformance/reference/coverage.py` from MicrosoftDocs/dataexplorer-docs at {commit[:12]} and")
    print("the outcomes of `vigil-conformance docs` and `vigil-conformance reference`, which CI runs. A page")
    print("*matches* when every example of it that needs no sample database runs and equals the printed table")
    print("(or fails only where the page misprints, each case with its reason in the baselines); its tests are")
    print("those examples and the `.kqlt` cases that name the page. Pages with no comparable example (their")
    print("examples read the Samples database, or are spatial, external or nondeterministic) are *not compared*:")
    print("the line says whether Vigil knows the name they document.")
    print()
    print("Totals: " + ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) + f", of {len(pages)} pages.")
    print()
    print("| Page | Status | Tests |")
    print("|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
