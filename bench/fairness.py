#!/usr/bin/env python3
"""The fairness load test: does one tenant's abuse hold back another tenant?

A real `vigil serve --tls-self-signed` on a fresh data dir holds two tenants, each with the
SigninEvents table and DCR (bench/ingest/) and an application that may ingest and query. The
quiet tenant offers the same load twice, for --duration seconds each: --ingest-rate ingestion
requests a second (gzip JSON, 200 sign-in events each) and --query-rate hunting queries a
second over its last hour, sent on schedule whatever the answers (an open load: latency counts
from when a request was due). The first time it runs alone; the second time the noisy tenant,
from a process at the lowest CPU priority, floods the token endpoint (--token-flooders threads,
wrong secrets, asking again at once), keeps --slow-uploads ingestion requests open sending their
bodies a byte a second, and runs heavy queries (--heavy-queriers threads) over a billion-row
`range`, back to back.

The quiet tenant runs alone, then beside the noisy tenant, then alone again; its table grows
all along, so "alone" pools the runs before and after. Reported for the quiet tenant, alone and
beside the noisy one: ingestion and query requests
answered per second and their p50 and p99 latency, and the ratios. The bar is a p99 and a
throughput within 2x of running alone; the script exits 1 when a ratio misses it. Writes --out
(JSON) as well.

Usage: fairness.py --vigil PATH [--duration 60] ... (bench/fairness.sh sets up the virtual
environment and calls this.)
"""

import argparse
import concurrent.futures
import gzip
import itertools
import json
import multiprocessing
import os
import socket
import ssl
import sys
import tempfile
import threading
import time

import requests

from rules import DCR_JSON, INGEST_SCOPE, STREAM, TABLE_JSON, Bearer, Generator, Server, cli, log, percentile

QUERY_SCOPE = "https://api.loganalytics.io/.default"
HUNTING_QUERY = (
    "SigninEvents | where TimeGenerated > ago(1h) | where ResultType != 0 "
    "| summarize Failures = count(), Addresses = dcount(IPAddress) by UserPrincipalName | top 20 by Failures"
)
HEAVY_QUERY = "range x from 1 to 1000000000 step 1 | summarize sum(x % 7), dcount(x % 1000003)"
BAR = 2.0


def tenant_setup(binary, data, name):
    """A tenant (the default one, or a new one) with the table, the DCR and an application that
    may ingest through the DCR and query the workspace."""
    d = ["--data-dir", data]
    if name is None:
        workspace = cli(binary, "workspace", "list", *d)[0]
        tenant_args, workspace_id = [], workspace["id"]
    else:
        created = cli(binary, "tenant", "create", *d, "--name", name)
        tenant_args, workspace_id = ["--tenant", name], created["workspace_id"]
    cli(binary, "table", "create", *d, "--workspace", workspace_id, "--file", TABLE_JSON)
    dcr = cli(binary, "dcr", "create", *d, "--workspace", workspace_id, "--file", DCR_JSON)["immutable_id"]
    app = cli(binary, "app", "create", *d, *tenant_args, "--name", "fairness",
              "--role", "Monitoring Metrics Publisher", "--scope", f"dcr/{dcr}",
              "--role", "Reader", "--scope", f"workspace/{workspace_id}")
    return {"app": app, "workspace": workspace_id, "dcr": dcr}


class Recorder:
    """Latencies of answered requests by kind, and the statuses seen."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = {}
        self.statuses = {}

    def add(self, kind, status, seconds):
        with self.lock:
            self.statuses.setdefault(kind, {}).setdefault(str(status), 0)
            self.statuses[kind][str(status)] += 1
            if status in (200, 204):
                self.latencies.setdefault(kind, []).append(seconds)

    def summary(self, kind, duration):
        values = self.latencies.get(kind, [])
        return {
            "per_second": len(values) / duration,
            "p50_ms": (percentile(values, 0.50) or 0) * 1000,
            "p99_ms": (percentile(values, 0.99) or 0) * 1000,
            "statuses": self.statuses.get(kind, {}),
        }


def timed_loop(stop, recorder, kind, request):
    session = requests.Session()
    while not stop.is_set():
        started = time.monotonic()
        try:
            status = request(session)
        except requests.RequestException as error:
            status = type(error).__name__
        recorder.add(kind, status, time.monotonic() - started)


def paced(stop, recorder, kind, request, rate, workers):
    """Sends `rate` requests a second on schedule, whatever the answers: an open load, as
    events and analysts arrive. Latency counts from when a request was due, so a server that
    falls behind is charged for the wait too (no coordinated omission). Requests still due
    when the pool is exhausted wait their turn, and that wait counts."""
    local = threading.local()

    def send(due):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        try:
            status = request(local.session)
        except requests.RequestException as error:
            status = type(error).__name__
        recorder.add(kind, status, time.monotonic() - due)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        start = time.monotonic()
        for n in itertools.count():
            due = start + n / rate
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            pool.submit(send, due)


def ingester(server, tenant, bearer, generator_lock, generator):
    url = f"{server.url}/dataCollectionRules/{tenant['dcr']}/streams/{STREAM}?api-version=2023-01-01"

    def post(session):
        with generator_lock:
            events = generator.second_of_events(200)
        body = gzip.compress(json.dumps(events).encode())
        headers = {**bearer.header(), "Content-Type": "application/json", "Content-Encoding": "gzip"}
        return session.post(url, data=body, headers=headers, verify=server.cert, timeout=60).status_code

    return post


def querier(server, tenant, bearer, text):
    url = f"{server.url}/v1/workspaces/{tenant['workspace']}/query"

    def run(session):
        response = session.post(url, json={"query": text}, headers=bearer.header(), verify=server.cert, timeout=300)
        return response.status_code

    return run


def token_flooder(server, tenant):
    url = f"{server.url}/{tenant['app']['tenant_id']}/oauth2/v2.0/token"
    form = {"grant_type": "client_credentials", "client_id": tenant["app"]["client_id"],
            "client_secret": "not-the-secret", "scope": INGEST_SCOPE}

    def request(session):
        return session.post(url, data=form, verify=server.cert, timeout=60).status_code

    return request


def slow_upload(server, tenant, bearer, stop, recorder):
    """One ingestion request whose body arrives a byte a second, again and again."""
    host, port = server.url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=server.cert)
    context.check_hostname = False
    path = f"/dataCollectionRules/{tenant['dcr']}/streams/{STREAM}?api-version=2023-01-01"
    while not stop.is_set():
        try:
            with socket.create_connection((host, int(port)), timeout=120) as raw:
                with context.wrap_socket(raw, server_hostname=host) as tls:
                    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                            f"Authorization: {bearer.header()['Authorization']}\r\n"
                            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n[")
                    tls.sendall(head.encode())
                    tls.settimeout(1.0)
                    while not stop.is_set():
                        tls.sendall(b" ")
                        try:
                            answer = tls.recv(4096)
                        except (TimeoutError, socket.timeout):
                            continue
                        status = answer.split(b" ", 2)[1].decode() if answer else "closed"
                        recorder.add("slow_upload", status, 0)
                        break
        except (OSError, ssl.SSLError) as error:
            recorder.add("slow_upload", type(error).__name__, 0)
            time.sleep(0.5)


def noisy_tenant(args, server, other, stop, statuses):
    """The noisy tenant's load, in a process of its own at the lowest CPU priority: on a
    machine whose cores the server shares with the load generator, the abuse is then the
    server's work, not the Python clients' (a real attacker's clients run elsewhere)."""
    os.nice(19)
    recorder = Recorder()
    other_ingest = Bearer(server, other["app"], INGEST_SCOPE)
    other_query = Bearer(server, other["app"], QUERY_SCOPE)
    threads = []
    for _ in range(args.token_flooders):
        threads.append(threading.Thread(target=timed_loop, args=(stop, recorder, "token", token_flooder(server, other))))
    for _ in range(args.slow_uploads):
        threads.append(threading.Thread(target=slow_upload, args=(server, other, other_ingest, stop, recorder)))
    for _ in range(args.heavy_queriers):
        threads.append(threading.Thread(
            target=timed_loop, args=(stop, recorder, "heavy_query", querier(server, other, other_query, HEAVY_QUERY))))
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join(timeout=320)
    statuses.update(recorder.statuses)


def phase(args, server, quiet, other, name, with_abuse):
    recorder = Recorder()
    stop = threading.Event()
    generator, generator_lock = Generator(seed=7), threading.Lock()
    quiet_ingest = Bearer(server, quiet["app"], INGEST_SCOPE)
    quiet_query = Bearer(server, quiet["app"], QUERY_SCOPE)
    threads = []
    ingest = ingester(server, quiet, quiet_ingest, generator_lock, generator)
    query = querier(server, quiet, quiet_query, HUNTING_QUERY)
    for kind, request, rate in (("ingest", ingest, args.ingest_rate), ("query", query, args.query_rate)):
        threads.append(threading.Thread(target=paced, args=(stop, recorder, kind, request, rate, 32), daemon=True))
    processes = multiprocessing.get_context("fork")  # the child shares the set-up, unpickled
    noisy, noisy_stop, noisy_statuses = None, processes.Event(), processes.Manager().dict()
    if with_abuse:
        noisy = processes.Process(target=noisy_tenant, args=(args, server, other, noisy_stop, noisy_statuses))
        noisy.start()
        time.sleep(2)  # its threads are under way before the quiet tenant's are measured
    log(f"{name}: {len(threads)} client threads{' beside the noisy tenant' if noisy else ''} for {args.duration} s")
    for thread in threads:
        thread.start()
    time.sleep(args.duration)
    stop.set()
    noisy_stop.set()
    for thread in threads:
        thread.join(timeout=320)
    if noisy:
        noisy.join(timeout=330)
    result = {kind: recorder.summary(kind, args.duration) for kind in ("ingest", "query")}
    result["latencies"] = recorder.latencies
    result["other"] = dict(noisy_statuses)
    return result


def pooled(first, second, duration):
    """Two runs' samples as one run of twice the duration."""
    recorder = Recorder()
    for run in (first, second):
        for kind in ("ingest", "query"):
            recorder.latencies.setdefault(kind, []).extend(run["latencies"].get(kind, []))
            counts = recorder.statuses.setdefault(kind, {})
            for status, count in run[kind]["statuses"].items():
                counts[status] = counts.get(status, 0) + count
    return {kind: recorder.summary(kind, 2 * duration) for kind in ("ingest", "query")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vigil", required=True)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--ingest-rate", type=float, default=20.0, help="quiet tenant's requests/s (200 events)")
    parser.add_argument("--query-rate", type=float, default=5.0, help="quiet tenant's queries/s")
    parser.add_argument("--token-flooders", type=int, default=4)
    parser.add_argument("--slow-uploads", type=int, default=100)
    parser.add_argument("--heavy-queriers", type=int, default=4)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                     "fairness.json"))
    args = parser.parse_args()
    binary = os.path.abspath(args.vigil)
    with tempfile.TemporaryDirectory(prefix="vigil-fairness-") as work:
        data = os.path.join(work, "vigil")
        quiet = tenant_setup(binary, data, None)
        other = tenant_setup(binary, data, "noisy")
        server = Server(binary, data, os.path.join(work, "serve.log"))
        server.start()
        log(f"vigil serve at {server.url} (pid {server.pid})")
        try:
            # Alone, beside, alone again: the quiet tenant's table grows all along, so the
            # baseline pools a run before and a run after, which read as much data on average
            # as the run beside the noisy tenant.
            before = phase(args, server, quiet, other, "the quiet tenant alone", with_abuse=False)
            loaded = phase(args, server, quiet, other, "the quiet tenant beside the noisy one", with_abuse=True)
            after = phase(args, server, quiet, other, "the quiet tenant alone again", with_abuse=False)
        finally:
            server.stop()
    alone = pooled(before, after, args.duration)

    rows, misses = [], []
    for kind in ("ingest", "query"):
        a, b = alone[kind], loaded[kind]
        p99_ratio = b["p99_ms"] / a["p99_ms"] if a["p99_ms"] else float("inf")
        throughput_ratio = a["per_second"] / b["per_second"] if b["per_second"] else float("inf")
        rows.append(f"| {kind} | {a['per_second']:.1f}/s, p50 {a['p50_ms']:.0f} ms, p99 {a['p99_ms']:.0f} ms "
                    f"| {b['per_second']:.1f}/s, p50 {b['p50_ms']:.0f} ms, p99 {b['p99_ms']:.0f} ms "
                    f"| {p99_ratio:.2f}x | {throughput_ratio:.2f}x |")
        for what, ratio in (("p99 latency", p99_ratio), ("throughput", throughput_ratio)):
            if ratio > BAR:
                misses.append(f"{kind} {what} is {ratio:.2f}x of running alone (the bar is {BAR}x)")
    print("| quiet tenant | alone | beside the noisy tenant | p99 ratio | throughput ratio |")
    print("|---|---|---|---:|---:|")
    print("\n".join(rows))
    print(f"\nThe noisy tenant's requests by status: {json.dumps(loaded['other'])}")
    print(f"The quiet tenant's statuses alone: ingest {alone['ingest']['statuses']}, query {alone['query']['statuses']};"
          f" beside: ingest {loaded['ingest']['statuses']}, query {loaded['query']['statuses']}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        runs = {"alone_before": before, "beside_noisy_tenant": loaded, "alone_after": after}
        for run in runs.values():
            run.pop("latencies", None)
        json.dump({"args": vars(args), "alone_pooled": alone, **runs, "misses": misses}, f, indent=2)
    for miss in misses:
        print(f"MISS: {miss}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
