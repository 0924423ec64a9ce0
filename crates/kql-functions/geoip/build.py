#!/usr/bin/env python3
"""Build geoip.bin, the IP geolocation database behind KQL's geo_info_from_ip_address().

Usage (see README.md beside this file for where the inputs come from):

    python3 build.py --countries COUNTRIES_JSON [--meta TEXT] [--output geoip.bin] CSV [CSV ...]

CSV files are ip-location-db range files with textual addresses, IPv4 and IPv6 rows alike
(the family is taken from each row's addresses), one inclusive range per row:

    country format:  ip_range_start,ip_range_end,country_code
    city format:     ip_range_start,ip_range_end,country_code,city,state1,state2,latitude,longitude,postcode,timezone

COUNTRIES_JSON is world-countries' countries.json: for each ISO 3166-1 alpha-2 code (`cca2`)
it gives the country's name (`name.common`) and a representative point (`latlng`), used as the
location of country-level rows. City-format rows carry their own latitude and longitude.
Country code "ZZ" or an empty code means "unknown" and is stored as no data. Any other code
missing from COUNTRIES_JSON is an error.

Only the Python 3.11 standard library is used. The output is byte-for-byte reproducible for
the same inputs (gzip header mtime 0, no file name).

Format of geoip.bin, version 1
==============================

geoip.bin is a gzip stream (RFC 1952, one member) whose decompressed payload is laid out as
below. Every integer is little-endian; there is no padding or alignment anywhere.

    offset size  field
    0      4     magic      b"VGEO"
    4      2     version    u16, 1
    6      2     reserved   u16, 0
    8      4     loc_count  u32, number of locations, at most 65535
    12     4     v4_count   u32, number of IPv4 range starts, at least 1
    16     4     v6_count   u32, number of IPv6 range starts, at least 1
    20     4     meta_len   u32, length of the metadata text
    24     4     str_len    u32, length of the string pool
    28           (end of header)

    then, back to back:
    meta       meta_len bytes   UTF-8 text naming the sources, versions and licences
    strings    str_len bytes    UTF-8 string pool
    locations  loc_count * 32 bytes, each:
                   country_off u32, country_len u16   country name, e.g. "United States"
                   code_off    u32, code_len    u16   ISO 3166-1 alpha-2 code, e.g. "US"
                   state_off   u32, state_len   u16   state or region ("" at country level)
                   city_off    u32, city_len    u16   city ("" at country level)
                   latitude    i32                    microdegrees (degrees * 1e6), -90e6..=90e6
                   longitude   i32                    microdegrees, -180e6..=180e6
               (off/len index into `strings`; every slice is valid UTF-8)
    v4_starts  v4_count * u32   strictly ascending, v4_starts[0] == 0
    v4_locs    v4_count * u16   location index, or 0xFFFF for "no data"
    v6_starts  v6_count * u128  (16 bytes each) strictly ascending, v6_starts[0] == 0
    v6_locs    v6_count * u16   location index, or 0xFFFF for "no data"
    (end of payload: its length is exactly the sum of the sections above)

Entry i of a family covers the addresses from starts[i] up to starts[i+1] - 1, and the last
entry covers up to the family's highest address (255.255.255.255, ffff:...:ffff). Because the
starts begin at 0 and the whole space is covered, a lookup is a single binary search for the
last start <= the address. Gaps in the source (private and reserved blocks) are entries with
location 0xFFFF. Adjacent ranges with the same location are merged, so no two consecutive
entries share a location index.

Coordinates are fixed-point microdegrees rather than floats so that the reader gets exactly
the decimal the source gave (an i32 divided by 1e6 as f64 is the nearest double to it).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import ipaddress
import json
import os
import struct
import sys

MAGIC = b"VGEO"
VERSION = 1
NO_LOC = 0xFFFF
MAX_LOCS = 0xFFFF  # indices 0..=0xFFFE; 0xFFFF is "no data"
V4_MAX = (1 << 32) - 1
V6_MAX = (1 << 128) - 1
UNKNOWN_CODES = {"", "ZZ"}


def die(msg: str) -> None:
    print(f"build.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def load_countries(path: str) -> dict[str, tuple[str, float, float]]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    out: dict[str, tuple[str, float, float]] = {}
    for c in data:
        code = c.get("cca2")
        name = (c.get("name") or {}).get("common")
        latlng = c.get("latlng") or []
        if not code or not name or len(latlng) != 2:
            continue
        out[code.upper()] = (name, float(latlng[0]), float(latlng[1]))
    return out


def micro(deg: float, limit: int) -> int:
    v = round(deg * 1_000_000)
    if not -limit * 1_000_000 <= v <= limit * 1_000_000:
        raise ValueError(f"coordinate {deg} out of range")
    return v


def package_label(csv_path: str) -> str | None:
    """name@version of the npm package the CSV was extracted from, if its package.json is beside it."""
    pj = os.path.join(os.path.dirname(os.path.abspath(csv_path)), "package.json")
    try:
        with open(pj, encoding="utf-8") as f:
            p = json.load(f)
        return f"{p['name']}@{p['version']}"
    except (OSError, ValueError, KeyError):
        return None


def read_ranges(paths, countries, loc_ids, locs):
    """Returns ({4: [(start, end, loc)], 6: [...]}) with locations interned into loc_ids/locs."""
    ranges: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            for lineno, row in enumerate(csv.reader(f), 1):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) < 3:
                    die(f"{path}:{lineno}: expected at least 3 columns, got {len(row)}")
                try:
                    a = ipaddress.ip_address(row[0].strip())
                    b = ipaddress.ip_address(row[1].strip())
                except ValueError as e:
                    die(f"{path}:{lineno}: {e}")
                if a.version != b.version or int(a) > int(b):
                    die(f"{path}:{lineno}: bad range {row[0]} - {row[1]}")
                code = row[2].strip().upper()
                if code in UNKNOWN_CODES:
                    continue  # stored as a gap
                if code not in countries:
                    die(f"{path}:{lineno}: country code {code!r} is not in the countries file")
                name, lat, lon = countries[code]
                city = state = ""
                if len(row) >= 8 and row[6].strip() and row[7].strip():
                    city = row[3].strip()
                    state = row[4].strip()
                    lat, lon = float(row[6]), float(row[7])
                try:
                    key = (name, code, state, city, micro(lat, 90), micro(lon, 180))
                except ValueError as e:
                    die(f"{path}:{lineno}: {e}")
                loc = loc_ids.get(key)
                if loc is None:
                    loc = loc_ids[key] = len(locs)
                    locs.append(key)
                ranges[a.version].append((int(a), int(b), loc))
    return ranges


def to_entries(rs: list[tuple[int, int, int]], maxaddr: int, family: str) -> tuple[list[int], list[int]]:
    """Sorted inclusive ranges -> (starts, locs) covering 0..=maxaddr, gaps as NO_LOC, merged."""
    rs.sort()
    starts: list[int] = []
    ids: list[int] = []

    def push(start: int, loc: int) -> None:
        if ids and ids[-1] == loc:
            return  # adjacent and same location: merge
        starts.append(start)
        ids.append(loc)

    nxt = 0  # first address not yet covered
    for s, e, loc in rs:
        if s < nxt:
            addr = ipaddress.IPv4Address(s) if family == "IPv4" else ipaddress.IPv6Address(s)
            die(f"overlapping {family} ranges at {addr}")
        if s > nxt:
            push(nxt, NO_LOC)
        push(s, loc)
        nxt = e + 1
    if nxt <= maxaddr:
        push(nxt, NO_LOC)
    if not starts:
        starts, ids = [0], [NO_LOC]
    return starts, ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--countries", required=True, help="world-countries countries.json")
    ap.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "geoip.bin"))
    ap.add_argument("--meta", help="metadata text stored in the file (default: derived from the inputs)")
    ap.add_argument("csv", nargs="+", help="ip-location-db range CSVs with textual addresses (IPv4 and IPv6)")
    args = ap.parse_args()

    countries = load_countries(args.countries)
    locs: list[tuple] = []
    loc_ids: dict[tuple, int] = {}
    ranges = read_ranges(args.csv, countries, loc_ids, locs)

    # Renumber locations in a stable order (code, state, city, ...) so the output does not depend
    # on row order.
    order = sorted(range(len(locs)), key=lambda i: (locs[i][1], locs[i][2], locs[i][3], locs[i][0], locs[i][4], locs[i][5]))
    remap = {old: new for new, old in enumerate(order)}
    locs = [locs[i] for i in order]
    if len(locs) > MAX_LOCS:
        die(f"{len(locs)} locations; format version 1 holds at most {MAX_LOCS}")
    for fam in (4, 6):
        ranges[fam] = [(s, e, remap[l]) for s, e, l in ranges[fam]]

    v4_starts, v4_locs = to_entries(ranges[4], V4_MAX, "IPv4")
    v6_starts, v6_locs = to_entries(ranges[6], V6_MAX, "IPv6")

    if args.meta is not None:
        meta = args.meta
    else:
        labels = []
        for p in args.csv:
            lab = package_label(p) or os.path.basename(p)
            if lab not in labels:
                labels.append(lab)
        cl = package_label(args.countries) or os.path.basename(args.countries)
        meta = (
            "IP ranges: " + ", ".join(labels) + " (IP Geolocation by DB-IP, https://db-ip.com, CC BY 4.0); "
            "country names and points: " + cl + " (mledoze/countries, ODbL 1.0)"
        )
    meta_b = meta.encode("utf-8")

    pool = bytearray()
    pool_ix: dict[str, tuple[int, int]] = {}

    def intern(s: str) -> tuple[int, int]:
        if s not in pool_ix:
            b = s.encode("utf-8")
            if len(b) > 0xFFFF:
                die(f"string too long: {s[:40]!r}...")
            pool_ix[s] = (len(pool), len(b))
            pool.extend(b)
        return pool_ix[s]

    loc_bytes = bytearray()
    for name, code, state, city, lat, lon in locs:
        for s in (name, code, state, city):
            off, ln = intern(s)
            loc_bytes += struct.pack("<IH", off, ln)
        loc_bytes += struct.pack("<ii", lat, lon)

    out = bytearray()
    out += MAGIC
    out += struct.pack("<HHIIIII", VERSION, 0, len(locs), len(v4_starts), len(v6_starts), len(meta_b), len(pool))
    out += meta_b
    out += pool
    out += loc_bytes
    out += struct.pack(f"<{len(v4_starts)}I", *v4_starts)
    out += struct.pack(f"<{len(v4_locs)}H", *v4_locs)
    for s in v6_starts:
        out += s.to_bytes(16, "little")
    out += struct.pack(f"<{len(v6_locs)}H", *v6_locs)

    data = gzip.compress(bytes(out), compresslevel=9, mtime=0)
    with open(args.output, "wb") as f:
        f.write(data)

    print(
        f"{args.output}: {len(data)} bytes gzip, {len(out)} bytes payload; "
        f"{len(locs)} locations, {len(v4_starts)} IPv4 entries, {len(v6_starts)} IPv6 entries "
        f"({sum(1 for l in v4_locs if l != NO_LOC)} + {sum(1 for l in v6_locs if l != NO_LOC)} with data)"
    )
    print(f"meta: {meta}")


if __name__ == "__main__":
    main()
