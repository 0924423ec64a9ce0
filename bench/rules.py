#!/usr/bin/env python3
"""The detection benchmark: 1,000 Scheduled analytics rules every 5 minutes on one node, under
steady ingest, and how late their runs start (the design's target: < 1 min lag).

A real `vigil serve --tls-self-signed` on a fresh data dir gets the SigninEvents table and DCR
(bench/ingest/) and a publisher; a thread posts realistic Entra ID-style sign-in events (gzip
JSON, --rate per second) for the whole run, with some bad activity mixed in (brute force,
password spray, MFA fatigue, sign-ins from rare countries, legacy protocols, risky sign-ins,
impossible travel, service accounts signing in interactively) so that rules fire. After a
baseline of ingest only, --rules Sentinel YAML rules generated from ten detection templates are
imported with `vigil rule import` in batches while the server runs, and the benchmark watches
for --duration seconds: /metrics (runs, failures, alerts, the lag and run-time histograms) and
the server's CPU time every --sample seconds, and every rule's watermark in detection.db, which
gives the exact lag of every run. Prints a markdown report and writes --out (JSON).

Usage: rules.py --vigil PATH [--rules 1000] [--rate 1000] [--baseline 90] [--duration 660]
(bench/rules.sh sets up the virtual environment and calls this.)
"""

import argparse
import gzip
import json
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE_JSON = os.path.join(HERE, "ingest", "SigninEvents_table.json")
DCR_JSON = os.path.join(HERE, "ingest", "SigninEvents_dcr.json")
STREAM = "Custom-SigninEvents"
INGEST_SCOPE = "https://monitor.azure.com/.default"
MANAGEMENT_SCOPE = "https://management.azure.com/.default"
MAX_JSON_BYTES = 1_000_000  # below the 1 MiB limit on a request, decompressed
TARGET_LAG = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The server and the admin CLI.


class Server:
    def __init__(self, binary, data_dir, log_path):
        self.binary = binary
        self.data = data_dir
        self.log_path = log_path
        self.cert = os.path.join(data_dir, "tls", "cert.pem")
        self.process = None
        self.url = None

    def start(self):
        env = dict(os.environ, NO_COLOR="1")
        env.setdefault("RUST_LOG", "info")
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                [self.binary, "serve", "--data-dir", self.data, "--listen", "127.0.0.1:0", "--tls-self-signed"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.log_path, errors="replace") as f:
                found = re.search(r"https://127\.0\.0\.1:[0-9]+", f.read())
            if found:
                self.url = found.group(0)
                break
            if self.process.poll() is not None:
                raise SystemExit(f"vigil serve exited with {self.process.returncode}; see {self.log_path}")
            time.sleep(0.1)
        if not self.url:
            raise SystemExit(f"vigil serve did not print its URL within 30 s; see {self.log_path}")
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", verify=self.cert, timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, OSError):
                pass
            time.sleep(0.1)
        raise SystemExit(f"{self.url}/healthz did not answer within 30 s")

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            log("vigil serve did not stop within 60 s of SIGTERM; killing it")
            self.process.kill()
            self.process.wait()


def cli(binary, *args):
    result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"`vigil {' '.join(args[:3])} ...` exited with {result.returncode}:\n"
                           f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return json.loads(result.stdout) if result.stdout.strip() else None


def token(server, app, scope):
    response = requests.post(
        f"{server.url}/{app['tenant_id']}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": app["client_id"],
              "client_secret": app["client_secret"], "scope": scope},
        verify=server.cert, timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    return body["access_token"], time.monotonic() + float(body.get("expires_in", 3600))


class Bearer:
    """A token that renews itself five minutes before it expires."""

    def __init__(self, server, app, scope):
        self.server, self.app, self.scope = server, app, scope
        self.value, self.expires = token(server, app, scope)

    def header(self, renew=False):
        if renew or time.monotonic() > self.expires - 300:
            self.value, self.expires = token(self.server, self.app, self.scope)
        return {"Authorization": f"Bearer {self.value}"}


def cpu_seconds(pid):
    """User + system CPU time of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------------------------------------
# Sign-in events, as Entra ID's sign-in logs shape them, in the DCR stream's columns.

FIRST = ["james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda", "david", "elizabeth",
         "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen",
         "wei", "yuki", "hans", "sofia", "lucas", "emma", "noah", "olivia", "raj", "priya", "ana", "pedro",
         "chloe", "liam", "mia", "ethan", "amelia", "mateo", "hiro", "ingrid"]
LAST = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
        "hernandez", "lopez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin", "lee",
        "mueller", "schmidt", "tanaka", "suzuki", "dubois", "rossi", "silva", "kumar", "sharma", "nguyen",
        "kim", "park", "chen", "wang", "jansen", "devries", "novak", "kowalski", "oconnor", "murphy"]
# Country, weight, city, state, latitude, longitude, first octets of its addresses.
COUNTRIES = [
    ("US", 40, "Seattle", "Washington", 47.6, -122.3, [20, 52, 73, 98]),
    ("GB", 12, "London", "England", 51.5, -0.1, [81, 86, 51]),
    ("DE", 10, "Berlin", "Berlin", 52.5, 13.4, [84, 91, 93]),
    ("FR", 7, "Paris", "Ile-de-France", 48.9, 2.35, [90, 82]),
    ("IN", 8, "Bengaluru", "Karnataka", 12.97, 77.59, [49, 117]),
    ("JP", 6, "Tokyo", "Tokyo", 35.7, 139.7, [126, 133]),
    ("BR", 5, "Sao Paulo", "Sao Paulo", -23.5, -46.6, [177, 187]),
    ("CA", 5, "Toronto", "Ontario", 43.7, -79.4, [99, 142]),
    ("AU", 4, "Sydney", "New South Wales", -33.9, 151.2, [101, 1]),
    ("NL", 3, "Amsterdam", "North Holland", 52.4, 4.9, [145, 212]),
]
COMMON_COUNTRIES = [c[0] for c in COUNTRIES]
RARE = [
    ("RU", "Moscow", "Moscow", 55.8, 37.6, [95, 178]),
    ("KP", "Pyongyang", "Pyongyang", 39.0, 125.8, [175]),
    ("IR", "Tehran", "Tehran", 35.7, 51.4, [5, 91]),
    ("CN", "Shanghai", "Shanghai", 31.2, 121.5, [36, 116]),
    ("NG", "Lagos", "Lagos", 6.5, 3.4, [41, 105]),
    ("BY", "Minsk", "Minsk", 53.9, 27.6, [37, 178]),
    ("VE", "Caracas", "Capital District", 10.5, -66.9, [186, 190]),
    ("SY", "Damascus", "Damascus", 33.5, 36.3, [5, 31]),
]
RARE_COUNTRIES = [r[0] for r in RARE]
APPS = ["Microsoft Teams", "Office 365 Exchange Online", "SharePoint Online", "OneDrive", "Microsoft Graph",
        "Outlook Mobile", "My Apps", "Windows Sign In", "Power BI", "Visual Studio Code", "Azure Portal",
        "Azure CLI", "Microsoft Azure PowerShell"]
ADMIN_APPS = ["Azure Portal", "Azure CLI", "Microsoft Azure PowerShell", "Microsoft Graph"]
RESOURCES = {"Microsoft Teams": "Microsoft Teams Services", "Office 365 Exchange Online": "Office 365 Exchange Online",
             "SharePoint Online": "Office 365 SharePoint Online", "OneDrive": "Office 365 SharePoint Online",
             "Outlook Mobile": "Office 365 Exchange Online", "Azure Portal": "Windows Azure Service Management API",
             "Azure CLI": "Windows Azure Service Management API",
             "Microsoft Azure PowerShell": "Windows Azure Service Management API"}
# (user agent, operating system, browser, client app)
AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36 Edg/120.0.2210.91", "Windows 10", "Edge 120.0.2210", "Browser"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 "
     "Safari/605.1.15", "MacOs", "Safari 17.2", "Browser"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 "
     "Safari/537.36", "Windows 10", "Chrome 121.0.0", "Browser"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
     "Teams/6.1.0", "Ios 17.2", "Mobile Safari", "Mobile Apps and Desktop clients"),
    ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)", "Windows 10",
     "Rich Client 16.0.17126", "Mobile Apps and Desktop clients"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile "
     "Safari/537.36", "Android 14", "Chrome Mobile 120.0.6099", "Browser"),
]
LEGACY = {"Exchange ActiveSync": "Android-Mail/2023.11.12", "IMAP4": "Thunderbird/115.6.0",
          "POP3": "Microsoft Outlook 14.0", "Authenticated SMTP": "python-smtplib/3.11",
          "Other clients": "BAV2ROPC", "Exchange Web Services": "ExchangeServicesClient/15.0"}
LEGACY_APPS = list(LEGACY)
RESULTS = {  # code: (description, conditional access status)
    0: ("", "success"),
    50126: ("Error validating credentials due to invalid username or password.", "notApplied"),
    50074: ("Strong Authentication is required.", "notApplied"),
    50076: ("Due to a configuration change made by your administrator, or because you moved to a new location, "
            "you must use multi-factor authentication to access the resource.", "notApplied"),
    50053: ("Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
            "notApplied"),
    53003: ("Access has been blocked by Conditional Access policies.", "failure"),
    500121: ("Authentication failed during strong authentication request.", "notApplied"),
    50140: ("This error occurred due to 'Keep me signed in' interrupt when the user was signing in.", "notApplied"),
    50055: ("The password is expired.", "notApplied"),
}
BACKGROUND_RESULTS = [(0, 900), (50126, 40), (50140, 20), (50074, 15), (50076, 10), (53003, 6), (50053, 3),
                      (500121, 3), (50055, 3)]
SERVICES = ["backup", "sql-agent", "build", "deploy", "monitoring", "sharepoint-sync", "crm-connector",
            "hr-feed", "payroll", "scanner", "reporting", "teams-bot", "mail-relay", "etl", "iam-sync",
            "billing", "vault", "ci-runner", "legacy-erp", "print"]
ADMINS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


def weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for value, weight in pairs:
        x -= weight
        if x < 0:
            return value
    return pairs[-1][0]


def guid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def stamp(seconds_ago=0.0):
    moment = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class User:
    __slots__ = ("upn", "display", "country", "ips", "agent")


class Generator:
    """Background sign-ins of 20,000 users (skewed: a few are busy), 20 service accounts and 10
    admins, each user with a home country, one to three addresses and a usual device; and the
    attacks, at steady rates so that every 5-minute window holds them."""

    def __init__(self, seed=2026, users=20_000):
        self.rng = random.Random(seed)
        rng = self.rng
        country_weights = [(c, c[1]) for c in COUNTRIES]
        self.users = []
        for n in range(users):
            user = User()
            first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
            suffix = "" if n < len(FIRST) * len(LAST) else str(n // (len(FIRST) * len(LAST)))
            user.upn = f"{first}.{last}{suffix}@contoso.com"
            user.display = f"{first.title()} {last.title()}"
            user.country = weighted(rng, country_weights)
            user.ips = [self.address(rng, user.country[6]) for _ in range(rng.randint(1, 3))]
            user.agent = rng.randrange(len(AGENTS))
            self.users.append(user)
        self.services = []
        for name in SERVICES:
            user = User()
            user.upn, user.display = f"svc-{name}@contoso.com", f"Service {name}"
            user.country, user.ips, user.agent = COUNTRIES[0], [f"20.81.{rng.randrange(256)}.{rng.randrange(1, 255)}"], 4
            self.services.append(user)
        self.admins = []
        for name in ADMINS:
            user = User()
            user.upn, user.display = f"adm-{name}@contoso.com", f"{name.title()} (admin)"
            user.country = COUNTRIES[rng.randrange(3)]
            user.ips = [self.address(rng, user.country[6])]
            user.agent = 0
            self.admins.append(user)
        # The attacks' victims and sources.
        self.brute_victims = [(self.users[100 + 37 * i], f"185.220.101.{10 + i}", 0.04 * (i + 1)) for i in range(8)]
        self.sprayers = [("45.155.205.233", 0.4), ("45.155.205.99", 0.15), ("193.142.146.20", 0.08)]
        self.fatigue = [(self.users[2000 + 11 * i], 0.03 * (i + 1)) for i in range(4)]
        self.travellers = [self.users[500 + 13 * i] for i in range(3)]
        self.legacy_users = [(self.users[3000 + 7 * i], LEGACY_APPS[i % len(LEGACY_APPS)], 0.02 + 0.01 * (i % 9))
                             for i in range(40)]
        self.credits = {}
        self.second = 0

    @staticmethod
    def address(rng, octets):
        return f"{rng.choice(octets)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def event(self, user, ip=None, result=None, country=None, app=None, client_app=None, agent=None,
              risk="none", mfa=None, seconds_ago=None):
        rng = self.rng
        ip = ip or rng.choice(user.ips)
        if result is None:
            result = weighted(rng, BACKGROUND_RESULTS)
        country = country or user.country
        app = app or APPS[min(rng.randrange(len(APPS)), rng.randrange(len(APPS)))]
        user_agent, os_name, browser, usual_client = AGENTS[user.agent if agent is None else agent]
        if client_app is not None and client_app in LEGACY:
            user_agent, os_name, browser = LEGACY[client_app], "", ""
        client_app = client_app or usual_client
        description, ca_status = RESULTS[result]
        created = stamp(rng.random() * 2 if seconds_ago is None else seconds_ago)
        mfa = mfa if mfa is not None else (result in (500121, 50074, 50076) or rng.random() < 0.3)
        outcome = "succeeded" if result == 0 else ("blocked" if result in (50053, 53003) else "failed")
        details = [{"authenticationStepDateTime": created, "authenticationMethod": "Password",
                    "authenticationMethodDetail": "Password Hash Sync", "succeeded": result not in (50126, 50053),
                    "authenticationStepResultDetail": "Correct password" if result != 50126 else "Invalid password"}]
        if mfa:
            details.append({"authenticationStepDateTime": created,
                            "authenticationMethod": "Mobile app notification",
                            "authenticationMethodDetail": "Microsoft Authenticator", "succeeded": result == 0,
                            "authenticationStepResultDetail": "MFA successfully completed" if result == 0
                            else ("MFA denied; user declined the authentication" if result == 500121
                                  else "MFA required")})
        return {
            "CreatedDateTime": created,
            "Id": guid(rng),
            "CorrelationId": guid(rng),
            "UserPrincipalName": user.upn,
            "UserDisplayName": user.display,
            "IPAddress": ip,
            "AppDisplayName": app,
            "ResourceDisplayName": RESOURCES.get(app, "Windows Azure Active Directory"),
            "ResultType": result,
            "ResultDescription": description,
            "Location": country[0],
            "EventText": f"User {user.upn} sign-in {outcome} to {app} from {ip} result={result} "
                         f"session={rng.getrandbits(32):08x}",
            "ClientAppUsed": client_app,
            "UserAgent": user_agent,
            "ConditionalAccessStatus": ca_status,
            "AuthenticationRequirement": "multiFactorAuthentication" if mfa else "singleFactorAuthentication",
            "RiskState": risk,
            "DeviceDetail": {"deviceId": "" if rng.random() < 0.6 else guid(rng), "operatingSystem": os_name,
                             "browser": browser, "isCompliant": rng.random() < 0.5, "isManaged": rng.random() < 0.5,
                             "trustType": rng.choice(["", "Azure AD joined", "Hybrid Azure AD joined"])},
            "LocationDetails": {"city": country[2], "state": country[3], "countryOrRegion": country[0],
                                "geoCoordinates": {"latitude": country[4], "longitude": country[5]}},
            "AuthenticationDetails": details,
        }

    def due(self, key, rate):
        """How many events at `rate` per second fall in this second (fractions carried over)."""
        credit = self.credits.get(key, self.rng.random()) + rate
        whole = int(credit)
        self.credits[key] = credit - whole
        return whole

    def second_of_events(self, count):
        """About `count` events: background sign-ins and this second's share of the attacks."""
        rng = self.rng
        events = []
        for victim, ip, rate in self.brute_victims:  # brute force: one address, one user
            for _ in range(self.due(("brute", ip), rate)):
                events.append(self.event(victim, ip=ip, result=weighted(rng, [(50126, 9), (50053, 1)]),
                                         country=RARE[0] if ip.endswith(("0", "2", "4")) else COUNTRIES[9], agent=2))
            if ip[-1] in "024" and self.due(("brute-ok", ip), 1 / 90):  # ...and then it works
                events.append(self.event(victim, ip=ip, result=0, country=COUNTRIES[9], agent=2))
        for ip, rate in self.sprayers:  # password spray: one address, many users
            for _ in range(self.due(("spray", ip), rate)):
                events.append(self.event(rng.choice(self.users), ip=ip, result=50126, country=RARE[4],
                                         app="Office 365 Exchange Online", client_app="Authenticated SMTP"))
        for victim, rate in self.fatigue:  # MFA fatigue: pushes declined
            for _ in range(self.due(("fatigue", victim.upn), rate)):
                events.append(self.event(victim, result=500121, mfa=True, app="Microsoft Teams"))
        for traveller in self.travellers:  # a new address, anywhere, every ten seconds
            if self.due(("travel", traveller.upn), 0.1):
                country = rng.choice(COUNTRIES + [(r[0], 0) + r[1:] for r in RARE[:2]])
                events.append(self.event(traveller, ip=self.address(rng, country[6]), country=country, result=0))
        for user, client_app, rate in self.legacy_users:  # old mail clients
            for _ in range(self.due(("legacy", user.upn), rate)):
                events.append(self.event(user, client_app=client_app, app="Office 365 Exchange Online",
                                         result=weighted(rng, [(0, 8), (50126, 2)])))
        for _ in range(self.due("rare", 0.1)):  # sign-ins from rare countries, some to admin apps
            country = rng.choice(RARE)
            country = (country[0], 0) + country[1:]
            events.append(self.event(rng.choice(self.users + self.admins), ip=self.address(rng, country[6]),
                                     country=country, app=rng.choice(APPS + ADMIN_APPS),
                                     result=weighted(rng, [(0, 6), (50126, 3), (53003, 1)])))
        for _ in range(self.due("risky", 0.2)):  # Identity Protection flagged them
            events.append(self.event(rng.choice(self.users),
                                     risk=weighted(rng, [("atRisk", 8), ("confirmedCompromised", 1),
                                                         ("remediated", 1), ("dismissed", 1)])))
        for _ in range(self.due("svc-browser", 0.02)):  # a service account used interactively
            events.append(self.event(rng.choice(self.services), app=rng.choice(ADMIN_APPS), agent=0, result=0))
        while len(events) < count:
            roll = rng.random()
            if roll < 0.05:
                user = rng.choice(self.services)
                events.append(self.event(user, app="Microsoft Graph", result=weighted(rng, [(0, 99), (50126, 1)])))
            elif roll < 0.06:
                events.append(self.event(rng.choice(self.admins), app=rng.choice(ADMIN_APPS)))
            else:
                n = len(self.users)
                user = self.users[min(rng.randrange(n), rng.randrange(n))]
                events.append(self.event(user))
        rng.shuffle(events)
        self.second += 1
        return events


class Ingest(threading.Thread):
    """Posts `rate` events a second (gzip JSON arrays of at most ~1 MB) until stopped."""

    def __init__(self, server, publisher, dcr, rate):
        super().__init__(daemon=True)
        self.server, self.rate = server, rate
        self.bearer = Bearer(server, publisher, INGEST_SCOPE)
        self.url = f"{server.url}/dataCollectionRules/{dcr}/streams/{STREAM}?api-version=2023-01-01"
        self.generator = Generator()
        self.stopping = threading.Event()
        self.first = threading.Event()
        self.lock = threading.Lock()
        self.events = 0
        self.requests = 0
        self.bytes = 0
        self.errors = []
        self.late_seconds = 0
        self.session = requests.Session()

    def post(self, body):
        for attempt in range(5):
            response = self.session.post(
                self.url, data=body, verify=self.server.cert, timeout=60,
                headers={**self.bearer.header(renew=attempt > 0 and last == 401),
                         "Content-Type": "application/json", "Content-Encoding": "gzip"})
            last = response.status_code
            if last == 204:
                return True
            if last in (429, 503):
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if last != 401:
                break
        self.errors.append(f"{last} {response.text[:300]}")
        return False

    def run(self):
        self.started_at = next_tick = time.monotonic()
        while not self.stopping.is_set():
            events = self.generator.second_of_events(self.rate)
            batches, batch, size = [], [], 2
            for event in events:
                text = json.dumps(event, separators=(",", ":"))
                if batch and size + len(text) + 1 > MAX_JSON_BYTES:
                    batches.append((batch, size))
                    batch, size = [], 2
                batch.append(text)
                size += len(text) + 1
            if batch:
                batches.append((batch, size))
            for batch, _ in batches:
                body = gzip.compress(("[" + ",".join(batch) + "]").encode(), compresslevel=1)
                try:
                    ok = self.post(body)
                except requests.RequestException as e:
                    self.errors.append(str(e)[:300])
                    ok = False
                if ok:
                    with self.lock:
                        self.events += len(batch)
                        self.requests += 1
                        self.bytes += len(body)
                    self.first.set()
            next_tick += 1.0
            delay = next_tick - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)
            else:
                self.late_seconds += 1
                if delay < -5:  # fell behind: do not try to catch up in a burst
                    next_tick = time.monotonic()

    def stop(self):
        if not self.stopping.is_set():
            self.stopped_at = time.monotonic()
        self.stopping.set()
        self.join(timeout=30)


# ---------------------------------------------------------------------------------------------
# The rules: ten detection templates over SigninEvents, varied.

TEMPLATES = {}


def template(name):
    def register(function):
        TEMPLATES[name] = function
        return function
    return register


def kql_list(values):
    return ", ".join(json.dumps(v) for v in values)


@template("brute_force")
def brute_force(rng):
    n = rng.choice([5, 10, 15, 20, 30, 40, 60, 80, 120])
    codes = rng.choice([[50126], [50126, 50053], [50126, 50053, 50055]])
    if rng.random() < 0.3:  # the same on the text of the event, as some sources only have that
        where = 'where EventText has "failed" or EventText has "blocked"'
    else:
        where = f"where ResultType in ({kql_list(codes)})"
    query = f"""SigninEvents
| {where}
| summarize Failures = count(), FirstSeen = min(TimeGenerated), LastSeen = max(TimeGenerated), Apps = make_set(AppDisplayName) by UserPrincipalName, IPAddress
| where Failures > {n}"""
    return dict(title=f"Brute force against a user: more than {n} failures from one address",
                description=f"More than {n} failed sign-ins for one user from one IP address in the period.",
                query=query, user="UserPrincipalName", ip="IPAddress", tactics=["CredentialAccess"],
                techniques=["T1110", "T1110.001"], severity=rng.choice(["Medium", "High"]))


@template("password_spray")
def password_spray(rng):
    n = rng.choice([5, 10, 20, 30, 50, 80, 100, 150])
    query = f"""SigninEvents
| where ResultType == 50126
| summarize Users = dcount(UserPrincipalName), Attempts = count(), Targets = make_set(UserPrincipalName, 20), Countries = make_set(Location) by IPAddress
| where Users > {n}
| extend SampleUser = tostring(Targets[0])"""
    return dict(title=f"Password spray: one address failing against more than {n} users",
                description=f"One IP address with invalid-password failures for more than {n} distinct users.",
                query=query, user="SampleUser", ip="IPAddress", tactics=["CredentialAccess"],
                techniques=["T1110.003"], severity=rng.choice(["Medium", "High"]))


@template("rare_country")
def rare_country(rng):
    countries = sorted(rng.sample(RARE_COUNTRIES, rng.randint(2, 5)))
    success_only = rng.random() < 0.4
    query = f"""SigninEvents
| where Location in ({kql_list(countries)}){chr(10) + '| where ResultType == 0' if success_only else ''}
| extend City = tostring(LocationDetails.city)
| summarize Count = count(), Apps = make_set(AppDisplayName), Results = make_set(ResultType), Cities = make_set(City) by UserPrincipalName, IPAddress, Location"""
    outcome = "Successful sign-in" if success_only else "Sign-in"
    return dict(title=f"{outcome} from a sanctioned country ({', '.join(countries)})",
                description=f"{outcome}s from {', '.join(countries)}, where the company has no staff.",
                query=query, user="UserPrincipalName", ip="IPAddress", tactics=["InitialAccess"],
                techniques=["T1078"], severity=rng.choice(["Medium", "High"]))


@template("legacy_auth")
def legacy_auth(rng):
    protocols = sorted(rng.sample(LEGACY_APPS, rng.randint(2, 6)))
    n = rng.choice([2, 5, 10, 20])
    query = f"""SigninEvents
| where ClientAppUsed in ({kql_list(protocols)})
| summarize Count = count(), Successes = countif(ResultType == 0), Protocols = make_set(ClientAppUsed), UserAgents = make_set(UserAgent) by UserPrincipalName, IPAddress
| where Count > {n}"""
    return dict(title=f"Legacy authentication ({', '.join(protocols)}), more than {n} sign-ins",
                description="Sign-ins over legacy protocols that cannot do MFA.",
                query=query, user="UserPrincipalName", ip="IPAddress", tactics=["DefenseEvasion", "InitialAccess"],
                techniques=["T1078.004"], severity=rng.choice(["Low", "Medium"]))


@template("mfa_denied")
def mfa_denied(rng):
    n = rng.choice([2, 3, 5, 8, 12])
    query = f"""SigninEvents
| where ResultType == 500121
| extend Method = tostring(AuthenticationDetails[1].authenticationMethod), Detail = tostring(AuthenticationDetails[1].authenticationStepResultDetail)
| summarize Denials = count(), Methods = make_set(Method), Details = make_set(Detail), Apps = make_set(AppDisplayName) by UserPrincipalName, IPAddress
| where Denials > {n}"""
    return dict(title=f"MFA fatigue: more than {n} MFA denials",
                description=f"A user declined or failed the MFA prompt more than {n} times.",
                query=query, user="UserPrincipalName", ip="IPAddress", tactics=["CredentialAccess"],
                techniques=["T1621"], severity=rng.choice(["Medium", "High"]))


@template("risky_signin")
def risky_signin(rng):
    states = rng.choice([["atRisk"], ["atRisk", "confirmedCompromised"], ["confirmedCompromised"]])
    success_only = rng.random() < 0.5
    query = f"""SigninEvents
| where RiskState in ({kql_list(states)}){chr(10) + '| where ResultType == 0' if success_only else ''}
| summarize Count = count(), Apps = make_set(AppDisplayName), Locations = make_set(Location) by UserPrincipalName, IPAddress, RiskState"""
    return dict(title=f"Risky sign-in ({' or '.join(states)}){' that succeeded' if success_only else ''}",
                description="Identity Protection flagged the sign-in.",
                query=query, user="UserPrincipalName", ip="IPAddress", tactics=["InitialAccess"],
                techniques=["T1078"], severity="High")


@template("many_addresses")
def many_addresses(rng):
    n = rng.choice([3, 4, 5, 8, 10, 15, 25])
    countries = rng.choice([0, 1, 2])
    query = f"""SigninEvents
| where ResultType == 0
| summarize Addresses = dcount(IPAddress), Countries = make_set(Location), arg_max(TimeGenerated, IPAddress) by UserPrincipalName
| where Addresses > {n} and array_length(Countries) > {countries}"""
    return dict(title=f"Impossible travel: more than {n} addresses in {countries + 1}+ countries",
                description=f"A user signed in from more than {n} IP addresses and {countries + 1} or more countries.",
                query=query, user="UserPrincipalName", ip="IPAddress", tactics=["InitialAccess"],
                techniques=["T1078"], severity=rng.choice(["Low", "Medium"]))


@template("admin_app_location")
def admin_app_location(rng):
    apps = sorted(rng.sample(ADMIN_APPS, rng.randint(1, 4)))
    usual = COMMON_COUNTRIES + sorted(rng.sample(RARE_COUNTRIES, rng.randint(0, 3)))  # some have an office
    device = rng.choice(["", "", '\n| where tostring(DeviceDetail.isCompliant) == "false"'])
    query = f"""SigninEvents
| where AppDisplayName in ({kql_list(apps)})
| where Location !in ({kql_list(usual)})
| where ResultType == 0{device}
| extend City = tostring(LocationDetails.city), OS = tostring(DeviceDetail.operatingSystem)
| summarize Count = count(), Cities = make_set(City), Systems = make_set(OS) by UserPrincipalName, IPAddress, Location, AppDisplayName"""
    return dict(title=f"Admin tool sign-in from an unusual country ({', '.join(apps)})",
                description="A successful sign-in to an administration tool from outside the usual countries.",
                query=query, user="UserPrincipalName", ip="IPAddress", tactics=["PrivilegeEscalation", "InitialAccess"],
                techniques=["T1078.004"], severity="High")


@template("fail_then_success")
def fail_then_success(rng):
    n = rng.choice([3, 5, 10, 20, 30])
    query = f"""SigninEvents
| summarize Failures = countif(ResultType in (50126, 50053)), Successes = countif(ResultType == 0), LastSuccess = maxif(TimeGenerated, ResultType == 0) by UserPrincipalName, IPAddress
| where Failures > {n} and Successes > 0"""
    return dict(title=f"Successful sign-in after more than {n} failures",
                description=f"A user signed in from an address after more than {n} failures from it.",
                query=query, user="UserPrincipalName", ip="IPAddress", tactics=["CredentialAccess", "InitialAccess"],
                techniques=["T1110"], severity="High")


@template("app_by_prefix")
def app_by_prefix(rng):
    prefix = rng.choice(["svc-", "svc-", "adm-", "svc-b", "svc-s"])
    apps = sorted(rng.sample(ADMIN_APPS + ["SharePoint Online", "Power BI"], rng.randint(1, 4)))
    client = rng.choice(["Browser", "Browser", "Mobile Apps and Desktop clients"])
    query = f"""SigninEvents
| where UserPrincipalName startswith "{prefix}"
| where AppDisplayName in ({kql_list(apps)}) and ClientAppUsed == "{client}"
| summarize Count = count(), Apps = make_set(AppDisplayName), Agents = make_set(UserAgent) by UserPrincipalName, IPAddress"""
    return dict(title=f"Accounts '{prefix}*' signing in to {', '.join(apps)} with {client}",
                description=f"Accounts named {prefix}* are not meant to sign in interactively to these apps.",
                query=query, user="UserPrincipalName", ip="IPAddress", tactics=["PrivilegeEscalation"],
                techniques=["T1078.002"], severity=rng.choice(["Low", "Medium"]))


def rule_yaml(number, name, rng):
    spec = TEMPLATES[name](rng)
    period = weighted(rng, [("PT5M", 80), ("PT15M", 15), ("PT1H", 5)])
    per_result = rng.random() < 0.25
    grouping = rng.random() < 0.4
    rule_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    lines = [
        f"id: {rule_id}",
        "name: " + json.dumps(f"{spec['title']} [{name} #{number:04d}]"),
        "description: |",
        f"  {spec['description']}",
        f"severity: {spec['severity']}",
        "kind: Scheduled",
        "status: Available",
        "requiredDataConnectors: []",
        "queryFrequency: PT5M",
        f"queryPeriod: {period}",
        "triggerOperator: gt",
        "triggerThreshold: 0",
        "tactics:",
        *[f"- {t}" for t in spec["tactics"]],
        "relevantTechniques:",
        *[f"- {t}" for t in spec["techniques"]],
        "query: |",
        *[f"  {line}" for line in spec["query"].splitlines()],
        "entityMappings:",
        "- entityType: Account",
        "  fieldMappings:",
        "  - identifier: FullName",
        f"    columnName: {spec['user']}",
        "- entityType: IP",
        "  fieldMappings:",
        "  - identifier: Address",
        f"    columnName: {spec['ip']}",
        "eventGroupingSettings:",
        f"  aggregationKind: {'AlertPerResult' if per_result else 'SingleAlert'}",
        "incidentConfiguration:",
        "  createIncident: true",
        "  groupingConfiguration:",
        f"    enabled: {'true' if grouping else 'false'}",
        "    reopenClosedIncident: false",
        "    lookbackDuration: PT5H",
        "    matchingMethod: AllEntities",
        "suppressionEnabled: false",
        "suppressionDuration: PT5H",
        "version: 1.0.0",
    ]
    return "\n".join(lines) + "\n", period, per_result, rule_id


def write_rules(folder, count, seed=7):
    rng = random.Random(seed)
    names = list(TEMPLATES)
    files, periods, per_result, templates = [], {}, 0, {}
    for number in range(count):
        name = names[number % len(names)]
        text, period, alert_per_result, rule_id = rule_yaml(number, name, rng)
        templates[rule_id] = name
        periods[period] = periods.get(period, 0) + 1
        per_result += alert_per_result
        path = os.path.join(folder, f"{number:04d}-{name}.yaml")
        with open(path, "w") as f:
            f.write(text)
        files.append(path)
    return files, periods, per_result, templates


def validate_templates(binary, workdir):
    """One rule of each template, imported into a scratch data dir: binding errors name the field."""
    scratch = os.path.join(workdir, "validate")
    os.makedirs(os.path.join(scratch, "rules"))
    data = os.path.join(scratch, "vigil")
    cli(binary, "rule", "list", "--data-dir", data)  # creates the default tenant and workspace
    cli(binary, "table", "create", "--data-dir", data, "--file", TABLE_JSON)
    rng = random.Random(1)
    files = []
    for name in TEMPLATES:
        path = os.path.join(scratch, "rules", f"{name}.yaml")
        with open(path, "w") as f:
            f.write(rule_yaml(0, name, rng)[0])
        files.append(path)
    try:
        cli(binary, "rule", "import", "--data-dir", data, *files)
    except RuntimeError as e:
        raise SystemExit(f"a rule template does not validate:\n{e}")
    log(f"every template validates ({len(files)} rules in a scratch data dir)")


# ---------------------------------------------------------------------------------------------
# Measuring: /metrics, /proc and detection.db.


def scrape(text):
    """The detection and ingest series of a Prometheus text page."""
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        if "detection" in name or name.startswith("vigil_ingest_records"):
            values[name] = float(value)
    return values


def histogram(values, name):
    """[(upper bound, cumulative count)] of a histogram, sorted, +Inf last."""
    buckets = []
    for key, value in values.items():
        match = re.fullmatch(rf'{name}_bucket\{{le="([^"]+)"\}}', key)
        if match:
            bound = math.inf if match.group(1) == "+Inf" else float(match.group(1))
            buckets.append((bound, value))
    return sorted(buckets)


def delta(after, before):
    return [(bound, count - (dict(before).get(bound, 0.0) if before else 0.0)) for bound, count in after]


def bucket_quantile(buckets, q):
    """The q-quantile from cumulative buckets, interpolated linearly inside its bucket."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def bucket_max(buckets):
    """Upper bound of the highest non-empty bucket."""
    previous = 0.0
    for bound, cumulative in buckets:
        if cumulative > previous:
            top = bound
        previous = cumulative
    return top if previous > 0 else None


def percentile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Watch:
    """Every rule's watermark, last run and run time in detection.db (read-only, WAL), so that
    each run is seen: a rule's watermark moves once per queryFrequency."""

    def __init__(self, path):
        self.path = path
        self.runs = {}  # (rule id, watermark) -> (last_run_at, last_run_seconds, created_at)

    def poll(self):
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
            try:
                rows = db.execute("SELECT id, watermark, last_run_at, last_run_seconds, created_at, last_result_count, "
                                  "last_alert_count FROM rules WHERE watermark IS NOT NULL").fetchall()
            finally:
                db.close()
        except sqlite3.Error as e:
            log(f"cannot read {self.path}: {e}")
            return
        for rule, watermark, last_run_at, seconds, created, results, alerts in rows:
            self.runs.setdefault((rule, watermark), (last_run_at, seconds or 0.0, created, results or 0, alerts or 0))

    def final(self):
        """Per rule: windows done (the watermark has moved through them in order), runs, failures."""
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT id, created_at, watermark, runs, failures, "
                              "json_extract(definition, '$.query_frequency') FROM rules").fetchall()
        finally:
            db.close()
        # Rules spread their runs over the frequency (a phase from the rule's id), so what is
        # due is per rule: a window is overdue when it ended more than 10 s ago and has not run.
        now = time.time_ns() - 10_000_000_000
        return [{"id": rule, "windows": 0 if watermark is None else (watermark - created) // frequency + 1,
                 "overdue": (1 if created + frequency <= now else 0) if watermark is None
                 else max(0, (now - watermark) // frequency),
                 "runs": runs, "failures": failures} for rule, created, watermark, runs, failures, frequency in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vigil", required=True, help="the vigil binary")
    parser.add_argument("--data", default=os.path.join(HERE, "data", "rules"), help="work folder (emptied)")
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=1000, help="events per second")
    parser.add_argument("--baseline", type=float, default=90, help="seconds of ingest only")
    parser.add_argument("--duration", type=float, default=660, help="seconds to watch after the import")
    parser.add_argument("--drain", type=float, default=150,
                        help="at most this many more seconds for the last cycle to finish")
    parser.add_argument("--batch", type=int, default=100, help="rule files per `vigil rule import`")
    parser.add_argument("--sample", type=float, default=5, help="seconds between samples")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "rules.json"))
    args = parser.parse_args()

    binary = os.path.abspath(args.vigil)
    work = os.path.abspath(args.data)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    validate_templates(binary, work)
    rules_dir = os.path.join(work, "rules")
    os.makedirs(rules_dir)
    files, periods, per_result, templates = write_rules(rules_dir, args.rules)
    log(f"{len(files)} rules written to {rules_dir}: queryPeriod {periods}, {per_result} AlertPerResult")

    data = os.path.join(work, "vigil")
    server = Server(binary, data, os.path.join(work, "serve.log"))
    server.start()
    log(f"vigil serve at {server.url} (pid {server.pid})")
    ingest = None
    try:
        d = ["--data-dir", data]
        cli(binary, "table", "create", *d, "--file", TABLE_JSON)
        dcr = cli(binary, "dcr", "create", *d, "--file", DCR_JSON)["immutable_id"]
        publisher = cli(binary, "app", "create", *d, "--name", "rules-bench", "--role",
                        "Monitoring Metrics Publisher", "--scope", f"dcr/{dcr}")
        with open(os.path.join(data, "owner-credential.json")) as f:
            owner = json.load(f)
        metrics_bearer = Bearer(server, owner, MANAGEMENT_SCOPE)
        metrics_session = requests.Session()

        def metrics():
            for renew in (False, True):
                response = metrics_session.get(f"{server.url}/metrics", headers=metrics_bearer.header(renew),
                                               verify=server.cert, timeout=30)
                if response.status_code != 401:
                    break
            response.raise_for_status()
            return scrape(response.text)

        ingest = Ingest(server, publisher, dcr, args.rate)
        ingest.start()
        if not ingest.first.wait(30):
            raise SystemExit(f"no ingest request succeeded within 30 s: {ingest.errors[:3]}")
        # Baseline: ingest only.
        cpu0, wall0, events0 = cpu_seconds(server.pid), time.monotonic(), ingest.events
        log(f"baseline: {args.baseline:.0f} s of ingest only at {args.rate} events/s")
        time.sleep(args.baseline)
        cpu1, wall1, events1 = cpu_seconds(server.pid), time.monotonic(), ingest.events
        baseline_rate = (cpu1 - cpu0) / (wall1 - wall0)
        log(f"baseline: {baseline_rate:.3f} CPU-s per s, {(events1 - events0) / (wall1 - wall0):.0f} events/s stored")

        # The rules phase.
        watch = Watch(os.path.join(data, "detection.db"))
        samples = []

        def sample(phase):
            values = metrics()
            samples.append({"t": time.monotonic(), "cpu": cpu_seconds(server.pid), "rss_mb": rss_mb(server.pid),
                            "events": ingest.events, "phase": phase, "metrics": values})
            watch.poll()

        sample("start")
        start_wall, start_cpu = samples[0]["t"], samples[0]["cpu"]
        import_started = datetime.now(timezone.utc)
        imports = []
        for first in range(0, len(files), args.batch):
            chunk = files[first:first + args.batch]
            began = time.monotonic()
            saved = cli(binary, "rule", "import", *d, "--workspace", "default", *chunk)
            imports.append({"rules": len(saved), "seconds": time.monotonic() - began})
            sample("import")
        import_seconds = time.monotonic() - start_wall
        log(f"imported {sum(i['rules'] for i in imports)} rules in {len(imports)} calls, {import_seconds:.1f} s "
            f"(per call: {min(i['seconds'] for i in imports):.2f}-{max(i['seconds'] for i in imports):.2f} s)")
        end = start_wall + import_seconds + args.duration
        next_sample = time.monotonic() + args.sample
        last_report = 0
        while time.monotonic() < end:
            time.sleep(max(0.0, min(next_sample, end) - time.monotonic()))
            next_sample += args.sample
            sample("run")
            runs = samples[-1]["metrics"].get("vigil_detection_rule_runs_total", 0)
            if time.monotonic() - last_report >= 60:
                last_report = time.monotonic()
                m = samples[-1]["metrics"]
                log(f"t+{samples[-1]['t'] - start_wall:.0f} s: {runs:.0f} runs, "
                    f"{m.get('vigil_detection_rule_run_failures_total', 0):.0f} failures, "
                    f"{m.get('vigil_detection_alerts_total', 0):.0f} alerts, {ingest.events:,} events, "
                    f"RSS {samples[-1]['rss_mb']:.0f} MB")
        # Runs may still be in progress: watch on (up to --drain s) until no window is overdue.
        drain_end = time.monotonic() + args.drain
        overdue = sum(r["overdue"] for r in watch.final())
        if overdue:
            log(f"{overdue} windows overdue; waiting up to {args.drain:.0f} s for them")
        while overdue and time.monotonic() < drain_end:
            time.sleep(args.sample)
            sample("drain")
            overdue = sum(r["overdue"] for r in watch.final())
        ingest.stop()
        final_events = ingest.events
    finally:
        if ingest is not None:
            ingest.stop()
        server.stop()
    log(f"server stopped (exit {server.process.returncode})")
    watch.poll()

    # Per rule: runs, failures, last error (the CLI reads the data dir).
    listed = cli(binary, "rule", "list", "--data-dir", data)
    errors = {}
    for rule in listed:
        if rule.get("last_error"):
            errors.setdefault(rule["last_error"][:300], []).append(rule["name"])
    never_ran = [r["name"] for r in listed if not r.get("runs")]
    runs_per_rule = {}
    for rule in listed:
        runs_per_rule[rule.get("runs") or 0] = runs_per_rule.get(rule.get("runs") or 0, 0) + 1

    report = analyse(args, samples, watch, start_wall, start_cpu, import_seconds, imports, baseline_rate,
                     final_events, ingest, periods, per_result, templates, watch.final())
    report["rules_by_run_count"] = {str(k): v for k, v in sorted(runs_per_rule.items())}
    report["rules_that_never_ran"] = len(never_ran)
    report["last_errors"] = [{"error": e, "rules": len(names), "example": names[0]} for e, names in errors.items()]
    report["server_log"] = os.path.relpath(server.log_path)
    with open(server.log_path, errors="replace") as f:
        logged = f.read().splitlines()
    report["server_log_warnings"] = sum(1 for line in logged if " WARN " in line)
    report["server_log_errors"] = sum(1 for line in logged if " ERROR " in line)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(markdown(report))
    return 0 if report["target_met"] else 1


def analyse(args, samples, watch, start_wall, start_cpu, import_seconds, imports, baseline_rate, final_events,
            ingest, periods, per_result, templates, final_rules):
    last = samples[-1]
    m = last["metrics"]
    runs = m.get("vigil_detection_rule_runs_total", 0)
    wall = last["t"] - start_wall
    cpu = last["cpu"] - start_cpu
    lag = histogram(m, "vigil_detection_rule_lag_seconds")
    run_seconds = histogram(m, "vigil_detection_rule_run_seconds")
    run_count = m.get("vigil_detection_rule_run_seconds_count", 0)

    # Cycles: the first runs (at import), then every 5 minutes; split halfway between them.
    boundaries = [0, 150, 450, math.inf]
    cycles = []
    for k in range(3):
        inside = [s for s in samples if boundaries[k] <= s["t"] - start_wall < boundaries[k + 1]]
        before = [s for s in samples if s["t"] - start_wall < boundaries[k]]
        if not inside:
            continue
        first, final = (before[-1] if before else samples[0]), inside[-1]
        d_lag = delta(histogram(final["metrics"], "vigil_detection_rule_lag_seconds"),
                      histogram(first["metrics"], "vigil_detection_rule_lag_seconds"))
        d_run = delta(histogram(final["metrics"], "vigil_detection_rule_run_seconds"),
                      histogram(first["metrics"], "vigil_detection_rule_run_seconds"))
        n = final["metrics"].get("vigil_detection_rule_runs_total", 0) - first["metrics"].get(
            "vigil_detection_rule_runs_total", 0)
        # When the cycle's runs happened: first and last sample interval in which the count moved.
        moving = [(a, b) for a, b in zip([first] + inside, inside)
                  if b["metrics"].get("vigil_detection_rule_runs_total", 0)
                  > a["metrics"].get("vigil_detection_rule_runs_total", 0)]
        busy = (moving[-1][1]["t"] - moving[0][0]["t"]) if moving else 0.0
        busy_cpu = (moving[-1][1]["cpu"] - moving[0][0]["cpu"]) if moving else 0.0
        cycles.append({
            "cycle": k,
            "runs": n,
            "failures": final["metrics"].get("vigil_detection_rule_run_failures_total", 0)
            - first["metrics"].get("vigil_detection_rule_run_failures_total", 0),
            "alerts": final["metrics"].get("vigil_detection_alerts_total", 0)
            - first["metrics"].get("vigil_detection_alerts_total", 0),
            "lag_p50_s": bucket_quantile(d_lag, 0.5),
            "lag_p95_s": bucket_quantile(d_lag, 0.95),
            "lag_max_bucket_s": bucket_max(d_lag),
            "run_mean_ms": 1000 * (final["metrics"].get("vigil_detection_rule_run_seconds_sum", 0)
                                   - first["metrics"].get("vigil_detection_rule_run_seconds_sum", 0)) / n if n else None,
            "run_p95_ms": 1000 * (bucket_quantile(d_run, 0.95) or 0),
            "busy_seconds": busy,
            "busy_cpu_seconds": busy_cpu,
        })

    # Exact lags from detection.db: every (rule, window end) seen, with when it was committed.
    exact = []
    for (rule, watermark), (last_run_at, seconds, created, results, alerts) in watch.runs.items():
        if last_run_at is None:
            continue
        committed = (last_run_at - watermark) / 1e9
        started = committed - seconds
        cycle = round((watermark - created) / 300e9)
        exact.append({"cycle": cycle, "start_lag": started, "commit_lag": committed, "query_s": seconds,
                      "template": templates.get(rule, "?"), "results": results, "alerts": alerts})
    by_template = {}
    for run in exact:
        by_template.setdefault(run["template"], []).append(run)
    total_query = sum(r["query_s"] for r in exact) or 1.0
    template_summary = {}
    for name, items in sorted(by_template.items()):
        seconds = [r["query_s"] for r in items]
        template_summary[name] = {
            "runs_seen": len(items), "query_mean_ms": 1000 * sum(seconds) / len(seconds),
            "query_p95_ms": 1000 * percentile(seconds, 0.95), "query_max_ms": 1000 * max(seconds),
            "share_of_query_time": sum(seconds) / total_query,
            "result_rows": sum(r["results"] for r in items), "alerts": sum(r["alerts"] for r in items),
        }
    exact_by_cycle = {}
    for run in exact:
        exact_by_cycle.setdefault(run["cycle"], []).append(run)
    exact_summary = {}
    for cycle, items in sorted(exact_by_cycle.items()):
        starts = [r["start_lag"] for r in items]
        commits = [r["commit_lag"] for r in items]
        exact_summary[str(cycle)] = {
            "runs_seen": len(items),
            "start_lag_p50_s": percentile(starts, 0.5), "start_lag_p95_s": percentile(starts, 0.95),
            "start_lag_max_s": max(starts), "commit_lag_max_s": max(commits),
        }
    all_starts = [r["start_lag"] for r in exact]
    all_commits = [r["commit_lag"] for r in exact]
    # CPU between the cycles, when no rule ran: the cost of having the rules at all.
    quiet = [(a, b) for a, b in zip(samples, samples[1:])
             if a["phase"] in ("run", "drain") and b["phase"] in ("run", "drain")
             and b["metrics"].get("vigil_detection_rule_runs_total", 0)
             == a["metrics"].get("vigil_detection_rule_runs_total", 0)]
    quiet_wall = sum(b["t"] - a["t"] for a, b in quiet)
    quiet_cpu = sum(b["cpu"] - a["cpu"] for a, b in quiet)
    extra_cpu = cpu - baseline_rate * wall
    lag_max_exact = max(all_starts) if all_starts else None
    lag_max_bucket = bucket_max(lag)
    windows_done = sum(r["windows"] for r in final_rules)
    expected = windows_done + sum(r["overdue"] for r in final_rules)
    duplicates = sum(r["runs"] - r["failures"] - r["windows"] for r in final_rules)
    failures = m.get("vigil_detection_rule_run_failures_total", 0)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "rules": args.rules,
        "query_periods": periods,
        "alert_per_result_rules": per_result,
        "ingest_rate_target": args.rate,
        "ingest_rate_stored": round(final_events / (ingest.stopped_at - ingest.started_at), 1),
        "events_ingested": final_events,
        "ingest_requests": ingest.requests,
        "ingest_errors": len(ingest.errors),
        "ingest_error_examples": ingest.errors[:3],
        "ingest_seconds_late": ingest.late_seconds,
        "baseline_seconds": args.baseline,
        "rules_phase_seconds": wall,
        "import_seconds": import_seconds,
        "import_calls": imports,
        "runs": runs,
        "runs_expected": expected,
        "windows_done": windows_done,
        "duplicate_runs": duplicates,
        "rules_with_duplicate_runs": sum(1 for r in final_rules if r["runs"] - r["failures"] > r["windows"]),
        "by_template": template_summary,
        "failures": m.get("vigil_detection_rule_run_failures_total", 0),
        "alerts": m.get("vigil_detection_alerts_total", 0),
        "lag_p50_s": bucket_quantile(lag, 0.5),
        "lag_p95_s": bucket_quantile(lag, 0.95),
        "lag_max_bucket_s": lag_max_bucket,
        "lag_exact_p50_s": percentile(all_starts, 0.5),
        "lag_exact_p95_s": percentile(all_starts, 0.95),
        "lag_exact_max_s": lag_max_exact,
        "commit_lag_exact_max_s": max(all_commits) if all_commits else None,
        "runs_seen_in_db": len(exact),
        "exact_by_cycle": exact_summary,
        "run_mean_ms": 1000 * m.get("vigil_detection_rule_run_seconds_sum", 0) / run_count if run_count else None,
        "run_p50_ms": 1000 * (bucket_quantile(run_seconds, 0.5) or 0),
        "run_p95_ms": 1000 * (bucket_quantile(run_seconds, 0.95) or 0),
        "run_max_bucket_ms": 1000 * (bucket_max(run_seconds) or 0),
        "cycles": cycles,
        "server_cpu_seconds": cpu,
        "baseline_cpu_per_second": baseline_rate,
        "rules_phase_cpu_per_second": cpu / wall if wall else None,
        "quiet_cpu_per_second": quiet_cpu / quiet_wall if quiet_wall else None,
        "quiet_seconds": quiet_wall,
        "cpu_ms_per_run": 1000 * extra_cpu / runs if runs else None,
        "peak_rss_mb": max(s["rss_mb"] for s in samples),
        "target_lag_s": TARGET_LAG,
        "target_met": bool(windows_done >= expected and lag_max_exact is not None and lag_max_exact < TARGET_LAG
                           and failures == 0),
    }


def fmt(value, digits=1, unit=""):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def markdown(r):
    lines = [
        f"### Detection: {r['rules']:,} Scheduled rules every 5 minutes ({r['date']})",
        "",
        "| measure | result | target |",
        "|---|---:|---:|",
        f"| rules (queryFrequency PT5M; queryPeriod {', '.join(f'{k} × {v}' for k, v in r['query_periods'].items())}) "
        f"| {r['rules']:,} | 1,000 |",
        f"| ingest during the run | {r['ingest_rate_stored']:,.0f} events/s ({r['ingest_rate_target']:,} asked), "
        f"{r['events_ingested']:,} events stored, {r['ingest_errors']} errors | |",
        f"| duration | {r['baseline_seconds']:.0f} s baseline + {r['rules_phase_seconds']:.0f} s with rules "
        f"(import {r['import_seconds']:.1f} s) | |",
        f"| windows run (of those whose end had passed) | {r['windows_done']:,} of {r['runs_expected']:,} "
        f"({r['runs']:,.0f} runs counted, {r['failures']:.0f} failed, {r['duplicate_runs']} repeated a window) | |",
        f"| alerts raised | {r['alerts']:,.0f} | |",
        f"| lag, run start after window end (histogram) | p50 {fmt(r['lag_p50_s'])} s, p95 {fmt(r['lag_p95_s'])} s, "
        f"max ≤ {fmt(r['lag_max_bucket_s'])} s | < 60 s |",
        f"| lag, exact from each rule's watermark ({r['runs_seen_in_db']:,} runs) | p50 {fmt(r['lag_exact_p50_s'])} s, "
        f"p95 {fmt(r['lag_exact_p95_s'])} s, max {fmt(r['lag_exact_max_s'])} s "
        f"(committed ≤ {fmt(r['commit_lag_exact_max_s'])} s) | < 60 s |",
        f"| run time per rule (query + commit) | mean {fmt(r['run_mean_ms'])} ms, p50 {fmt(r['run_p50_ms'])} ms, "
        f"p95 {fmt(r['run_p95_ms'])} ms | |",
        f"| server CPU per rule run (above the ingest baseline) | {fmt(r['cpu_ms_per_run'])} ms | |",
        f"| server CPU, CPU-s per s | baseline {fmt(r['baseline_cpu_per_second'], 2)}, with rules "
        f"{fmt(r['rules_phase_cpu_per_second'], 2)}, between cycles {fmt(r['quiet_cpu_per_second'], 2)} | |",
        f"| server peak RSS | {fmt(r['peak_rss_mb'], 0)} MB | |",
        "",
        "| cycle | runs | failed | alerts | lag p50 / p95 / max bucket (s) | exact lag p50 / p95 / max (s) "
        "| busy for (s) | run mean / p95 (ms) |",
        "|---|---:|---:|---:|---|---|---:|---|",
    ]
    for c in r["cycles"]:
        e = r["exact_by_cycle"].get(str(c["cycle"]), {})
        lines.append(
            f"| {c['cycle']} | {c['runs']:,.0f} | {c['failures']:.0f} | {c['alerts']:,.0f} "
            f"| {fmt(c['lag_p50_s'])} / {fmt(c['lag_p95_s'])} / ≤ {fmt(c['lag_max_bucket_s'])} "
            f"| {fmt(e.get('start_lag_p50_s'))} / {fmt(e.get('start_lag_p95_s'))} / {fmt(e.get('start_lag_max_s'))} "
            f"| ~{c['busy_seconds']:.0f} | {fmt(c['run_mean_ms'])} / {fmt(c['run_p95_ms'])} |")
    lines += ["", "| template | runs | query mean / p95 / max (ms) | share of query time | result rows | alerts |",
              "|---|---:|---|---:|---:|---:|"]
    for name, t in r["by_template"].items():
        lines.append(f"| {name} | {t['runs_seen']:,} | {fmt(t['query_mean_ms'])} / {fmt(t['query_p95_ms'])} / "
                     f"{fmt(t['query_max_ms'])} | {100 * t['share_of_query_time']:.0f} % | {t['result_rows']:,} "
                     f"| {t['alerts']:,} |")
    lines += ["", f"Target (every run starts < 60 s after its window ends, all {r['runs_expected']:,} due windows run, "
              f"no failures): **{'met' if r['target_met'] else 'NOT met'}**."]
    if r["last_errors"]:
        lines.append("")
        lines.append("Rule errors (vigil rule list):")
        for e in r["last_errors"]:
            lines.append(f"- {e['rules']} rule(s), e.g. {e['example']}: {e['error']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
