"""What the end-to-end tests share: checks and progress lines, a real `vigil serve` process with
its admin CLI, tokens, and the Defender and ingestion APIs as a client calls them."""

import gzip
import json
import os
import re
import signal
import subprocess
import time
from urllib.parse import quote

import requests

INGEST_SCOPE = "https://monitor.azure.com/.default"
DEFENDER_SCOPE = "https://api.security.microsoft.com/.default"
MANAGEMENT_SCOPE = "https://management.azure.com/.default"
# How long a server may take to start before it is taken for hung (a busy machine is slow).
START_GUARD_SECONDS = 300


class Failure(Exception):
    pass


class Reported(Exception):
    """A failure already printed with the server log."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def step(text):
    print(f"==> {text}", flush=True)


def note(text):
    print(f"    {text}", flush=True)


# ---------------------------------------------------------------------------------------------
# Vigil: the server process and the admin CLI.


class Vigil:
    def __init__(self, binary, data_dir):
        self.binary = binary
        self.data = data_dir
        self.process = None
        self.url = None
        self.logs = []
        self.cert = os.path.join(data_dir, "tls", "cert.pem")

    def start(self):
        log_path = os.path.join(os.path.dirname(self.data), f"serve-{len(self.logs) + 1}.log")
        self.logs.append(log_path)
        # The webhook receiver and the SMTP server of these tests listen on this machine, which
        # playbooks may call only when the operator allows it.
        env = dict(os.environ, RUST_LOG="info", NO_COLOR="1", VIGIL_OUTBOUND_ALLOW="127.0.0.1")
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [self.binary, "serve", "--data-dir", self.data, "--listen", "127.0.0.1:0", "--tls-self-signed"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        # Waits for the server's events (its URL line, then /readyz) as long as it runs; the
        # guard only stops a hung start, it is no estimate of how long a start takes.
        deadline = time.monotonic() + START_GUARD_SECONDS
        self.url = None
        while time.monotonic() < deadline:
            with open(log_path, errors="replace") as log:
                found = re.search(r"https://127\.0\.0\.1:[0-9]+", log.read())
            if found:
                self.url = found.group(0)
                break
            check(self.process.poll() is None, f"vigil serve exited with status {self.process.returncode}")
            time.sleep(0.1)
        check(self.url, f"vigil serve did not log its URL within {START_GUARD_SECONDS} s")
        while time.monotonic() < deadline:
            check(self.process.poll() is None, f"vigil serve exited with status {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/readyz", verify=self.cert, timeout=10).status_code == 200:
                    return
            except (requests.ConnectionError, OSError):
                pass
            time.sleep(0.1)
        raise Failure(f"{self.url}/readyz did not answer 200 within {START_GUARD_SECONDS} s")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise Failure("vigil serve did not stop within 30 s of SIGTERM")

    def cli(self, *args, json_output=True):
        command = [self.binary, *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        shown = " ".join(a if " " not in a else repr(a) for a in args)
        check(
            result.returncode == 0,
            f"`vigil {shown}` exited with {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}",
        )
        try:
            return json.loads(result.stdout)
        except ValueError:
            check(not json_output, f"`vigil {shown}` did not print JSON: {result.stdout!r}")
            return result.stdout.strip()

    def log_tail(self, lines=80):
        out = []
        for path in self.logs:
            try:
                with open(path, errors="replace") as log:
                    tail = log.read().splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"--- {os.path.basename(path)} (last {len(tail)} lines)")
            out.extend(tail)
        return "\n".join(out)


def token(vigil, app, scope):
    response = requests.post(
        f"{vigil.url}/{app['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": scope,
        },
        verify=vigil.cert,
        timeout=10,
    )
    check(response.status_code == 200, f"token for {scope}: {response.status_code} {response.text}")
    body = response.json()
    check(body.get("token_type") == "Bearer" and body.get("access_token"), f"token response: {body}")
    return body["access_token"]


def api_get(vigil, bearer, path_and_query):
    return requests.get(
        f"{vigil.url}{path_and_query}",
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
        verify=vigil.cert,
        timeout=10,
    )


def odata(params):
    """A query string as Defender's own examples write it: `$filter=...&$top=2`, `$` unescaped."""
    return "?" + "&".join(f"{key}={quote(str(value), safe=chr(39))}" for key, value in params.items())


def incidents(vigil, bearer):
    response = api_get(vigil, bearer, "/api/incidents")
    check(response.status_code == 200, f"GET /api/incidents: {response.status_code} {response.text[:500]}")
    body = response.json()
    check(isinstance(body.get("value"), list), f"GET /api/incidents has no value array: {str(body)[:500]}")
    return body["value"]


def alerts(vigil, bearer, params):
    response = api_get(vigil, bearer, "/api/alerts" + odata(params))
    check(response.status_code == 200, f"GET /api/alerts {params}: {response.status_code} {response.text[:500]}")
    body = response.json()
    check(isinstance(body.get("value"), list), f"GET /api/alerts has no value array: {str(body)[:500]}")
    return body["value"]


def ingest(url, bearer, cert, events):
    body = gzip.compress(json.dumps(events).encode())
    response = requests.post(
        url,
        data=body,
        headers={
            "Authorization": f"Bearer {bearer}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        verify=cert,
        timeout=30,
    )
    done = time.monotonic()
    check(response.status_code == 204, f"ingestion: expected 204, got {response.status_code} {response.text[:500]}")
    return done


def wait_for(predicate, seconds, interval=0.1):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
