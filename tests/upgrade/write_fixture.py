"""Writes a data dir with a release of Vigil, for the upgrade test of later releases.

    tests/e2e/run.sh's virtual environment: $VENV/bin/python tests/upgrade/write_fixture.py VIGIL_BIN NAME

Run it with the binary of a release; it writes tests/upgrade/fixtures/NAME/: the data dir after a
clean stop (control.db, detection.db, the store's Parquet files and WAL) and manifest.json, what
the data dir holds and how to reach it (the applications' credentials, row counts, the incidents).
crates/server/tests/upgrade.rs opens every fixture with the code as it is now and checks that
all of it is still there and still works. Fixtures are never rewritten: a new release adds one.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import (  # noqa: E402
    DEFENDER_SCOPE,
    INGEST_SCOPE,
    MANAGEMENT_SCOPE,
    Vigil,
    check,
    incidents,
    ingest,
    step,
    token,
    wait_for,
)
from keeper_e2e import STREAM, TABLE, first_batch  # noqa: E402

COMMENT = "Checked with the user: the change was theirs."
WATCHLIST_CSV = "Address,Owner\n198.51.100.23,alice\n203.0.113.77,bob\n"


def main(binary, name):
    target = os.path.join(HERE, "fixtures", name)
    check(not os.path.exists(target), f"{target} exists: fixtures are never rewritten")
    work = tempfile.mkdtemp(prefix="vigil-fixture-")
    data = os.path.join(work, "data")
    vigil = Vigil(binary, data)
    try:
        manifest = write(vigil, data, work)
    finally:
        vigil.stop()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    manifest["written_by"] = version
    # The self-signed certificate and its key are the server's, not the data's; a test serves
    # the data dir with its own.
    shutil.rmtree(os.path.join(data, "tls"), ignore_errors=True)
    # A SQLite write-ahead log the release left is part of its data dir (SQLite replays it on
    # open); the shared-memory index beside it is rebuilt from it.
    for leftover in [f for f in os.listdir(data) if f.endswith("-shm")]:
        os.remove(os.path.join(data, leftover))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copytree(data, os.path.join(target, "data"))
    with open(os.path.join(target, "manifest.json"), "w") as file:
        json.dump(manifest, file, indent=2, sort_keys=True)
        file.write("\n")
    shutil.rmtree(work)
    print(f"wrote {target}")


def write(vigil, data, work):
    d = ["--data-dir", data]
    step("starting vigil serve")
    vigil.start()
    pack = vigil.cli("content", "install", "keeper-security", *d, "--url", vigil.url)
    dcr = pack["dcrs"][0]
    publisher = vigil.cli("app", "create", *d, "--name", "keeper", "--role", "Monitoring Metrics Publisher",
                          "--scope", f"dcr/{dcr['immutableId']}")
    responder = vigil.cli("app", "create", *d, "--name", "soc", "--role", "Responder", "--scope", "tenant")
    reader = vigil.cli("app", "create", *d, "--name", "analyst", "--role", "Reader", "--scope", "workspace/default")
    csv_path = os.path.join(work, "addresses.csv")
    with open(csv_path, "w") as file:
        file.write(WATCHLIST_CSV)
    vigil.cli("watchlist", "create", *d, "--alias", "KnownAddresses", "--search-key", "Address", "--file", csv_path)

    step("ingesting Keeper events and waiting for their incidents")
    events, matching, _ = first_batch()
    ingest(dcr["ingestionUrl"], token(vigil, publisher, INGEST_SCOPE), vigil.cert, events)
    soc = token(vigil, responder, DEFENDER_SCOPE)
    found = wait_for(lambda: len(incidents(vigil, soc)) >= len(matching) and incidents(vigil, soc), 60)
    check(found and len(found) == len(matching), f"incidents: {found}")
    commented = found[0]["incidentId"]
    response = requests.post(
        f"{vigil.url}/api/incidents/{commented}/comments",
        json={"comment": COMMENT},
        headers={"Authorization": f"Bearer {soc}"},
        verify=vigil.cert,
        timeout=10,
    )
    check(response.status_code in (200, 201), f"comment: {response.status_code} {response.text}")
    # The management token is asked for only to prove the owner credential works before the stop.
    with open(os.path.join(data, "owner-credential.json")) as file:
        token(vigil, json.load(file), MANAGEMENT_SCOPE)
    step("stopping vigil serve")
    status = vigil.stop()
    check(status == 0, f"vigil serve exited with {status} on SIGTERM")
    return {
        "apps": {"publisher": publisher, "responder": responder, "reader": reader},
        "table": TABLE,
        "stream": STREAM,
        "dcr": dcr["immutableId"],
        "rows": len(events),
        "rules": sorted(rule["name"] for rule in pack["rules"]),
        "incidents": len(matching),
        "commented_incident": commented,
        "comment": COMMENT,
        "watchlist": {"alias": "KnownAddresses", "items": WATCHLIST_CSV.count("\n") - 1},
    }


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
