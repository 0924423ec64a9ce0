"""Durability under SIGKILL: kills `vigil serve` at random moments during concurrent ingestion,
restarts it, and checks that every acknowledged request is stored exactly once and that every
request is all or nothing. Standard library only.

usage: kill_loop.py VIGIL_BINARY [ROUNDS]
"""

import json
import os
import random
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

VIGIL = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
WRITERS = 4
RECORDS_PER_REQUEST = 200

TABLE = {"name": "Durability_CL", "properties": {"schema": {"name": "Durability_CL", "columns": [
    {"name": "TimeGenerated", "type": "datetime"}, {"name": "Batch", "type": "string"},
    {"name": "Item", "type": "int"}, {"name": "Payload", "type": "string"}]}}}
DCR = {"name": "durability", "properties": {
    "streamDeclarations": {"Custom-Durability": {"columns": [
        {"name": "Batch", "type": "string"}, {"name": "Item", "type": "int"}, {"name": "Payload", "type": "string"}]}},
    "dataFlows": [{"streams": ["Custom-Durability"], "outputStream": "Custom-Durability_CL",
                   "transformKql": "source | extend TimeGenerated = now()"}]}}


def config_file(data):
    """Flushes every second, so that kills also land during flushes and WAL truncation."""
    path = os.path.join(data, "vigil.toml")
    if not os.path.exists(path):
        with open(path, "w") as file:
            file.write("[storage]\nflush_interval_seconds = 1\n")
    return path


def cli(data, *args):
    out = subprocess.run([VIGIL, *args, "--data-dir", data, "--config", config_file(data)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


class Server:
    def __init__(self, data):
        self.data = data
        self.log = open(os.path.join(data, "serve.log"), "a")
        self.process = subprocess.Popen(
            [VIGIL, "serve", "--data-dir", data, "--config", config_file(data), "--listen", "127.0.0.1:0",
             "--tls-self-signed"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"https://127\.0\.0\.1:(\d+)", line)
        if not match:
            raise RuntimeError(f"the server did not start: {line!r}")
        self.url = f"https://127.0.0.1:{match.group(1)}"

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def post(url, body, headers, context, timeout=30):
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
        return response.status, response.read()


def token(server, tenant, app, scope, context):
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": app["client_id"],
                                   "client_secret": app["client_secret"], "scope": scope}).encode()
    _, body = post(f"{server.url}/{tenant}/oauth2/v2.0/token", form,
                   {"Content-Type": "application/x-www-form-urlencoded"}, context)
    return json.loads(body)["access_token"]


def main():
    data = tempfile.mkdtemp(prefix="vigil-durability-")
    try:
        first = Server(data)
        first.stop()
        table_file = os.path.join(data, "table.json")
        dcr_file = os.path.join(data, "dcr.json")
        json.dump(TABLE, open(table_file, "w"))
        json.dump(DCR, open(dcr_file, "w"))
        cli(data, "table", "create", "--file", table_file)
        dcr = cli(data, "dcr", "create", "--file", dcr_file)["immutable_id"]
        workspace = cli(data, "workspace", "list")[0]["id"]
        publisher = cli(data, "app", "create", "--name", "writer", "--role", "Monitoring Metrics Publisher",
                        "--scope", f"dcr/{dcr}")
        reader = cli(data, "app", "create", "--name", "checker", "--role", "Reader", "--scope", "workspace/default")
        tenant = publisher["tenant_id"]
        context = ssl.create_default_context(cafile=os.path.join(data, "tls", "cert.pem"))

        acknowledged = set()
        attempted = set()
        lock = threading.Lock()
        for round_number in range(1, ROUNDS + 1):
            server = Server(data)
            ingest_token = token(server, tenant, publisher, "https://monitor.azure.com/.default", context)
            url = f"{server.url}/dataCollectionRules/{dcr}/streams/Custom-Durability?api-version=2023-01-01"
            stop = threading.Event()

            def writer(number):
                sequence = 0
                while not stop.is_set():
                    batch = f"r{round_number}-w{number}-{sequence}"
                    sequence += 1
                    records = [{"Batch": batch, "Item": i, "Payload": "x" * 64} for i in range(RECORDS_PER_REQUEST)]
                    with lock:
                        attempted.add(batch)
                    try:
                        status, _ = post(url, json.dumps(records).encode(),
                                         {"Content-Type": "application/json", "Authorization": f"Bearer {ingest_token}"},
                                         context, timeout=10)
                    except (urllib.error.URLError, ConnectionError, OSError):
                        return
                    if status == 204:
                        with lock:
                            acknowledged.add(batch)

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
            for thread in threads:
                thread.start()
            time.sleep(random.uniform(0.3, 2.5))
            server.kill()
            stop.set()
            for thread in threads:
                thread.join()

            server = Server(data)
            query_token = token(server, tenant, reader, f"{server.url}/.default", context)
            _, body = post(f"{server.url}/v1/workspaces/{workspace}/query",
                           json.dumps({"query": "Durability_CL | summarize n = count(), items = dcount(Item) by Batch"}).encode(),
                           {"Content-Type": "application/json", "Authorization": f"Bearer {query_token}"}, context, timeout=120)
            server.stop()
            stored = {row[0]: (row[1], row[2]) for row in json.loads(body)["tables"][0]["rows"]}
            missing = acknowledged - stored.keys()
            partial = {b: v for b, v in stored.items() if v != (RECORDS_PER_REQUEST, RECORDS_PER_REQUEST)}
            unknown = stored.keys() - attempted
            print(f"round {round_number:2}: {len(acknowledged)} acknowledged requests, {len(stored)} stored, "
                  f"{len(missing)} lost, {len(partial)} partial or duplicated")
            if missing or partial or unknown:
                print(f"FAILED: lost {sorted(missing)[:5]}, partial/duplicated {list(partial.items())[:5]}, "
                      f"unknown {sorted(unknown)[:5]}", file=sys.stderr)
                sys.exit(1)
        print(f"durability: {ROUNDS} SIGKILLs, {len(acknowledged)} acknowledged requests "
              f"({len(acknowledged) * RECORDS_PER_REQUEST} records), each stored exactly once")
    finally:
        shutil.rmtree(data, ignore_errors=True)
        # The key that seals the data dir's secrets lives beside it.
        if os.path.exists(data + ".key"):
            os.remove(data + ".key")


if __name__ == "__main__":
    main()
