"""Keeper Security, end to end, with real processes.

A local webhook receiver and a STARTTLS-only SMTP server stand in for the SOC's tools; a real
`vigil serve --tls-self-signed` gets the keeper-security content pack, a publisher and a
responder application and an automation rule; Keeper-format events are pushed to the pack's
ingestion URL as Keeper pushes them (gzip JSON array, bearer token); the two NRT rules must
raise one incident per matching event within 5 s, the automation rule must call the webhook
(signed) and send the emails, the Defender alerts API must filter, and a restart must neither
duplicate alerts nor stop detection.

Usage: keeper_e2e.py PATH-TO-VIGIL   (run.sh sets up the virtual environment and calls this)
Exit status 0 when every check passes, 1 otherwise (with the server log's tail).
"""

import email
import email.policy
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import requests
import trustme
from aiosmtpd.controller import Controller

from harness import (
    DEFENDER_SCOPE,
    INGEST_SCOPE,
    Failure,
    Reported,
    Vigil,
    alerts,
    api_get,
    check,
    incidents,
    ingest,
    note,
    odata,
    step,
    token,
    wait_for,
)

STREAM = "Custom-KeeperSecurityEventNewLogs"
TABLE = "KeeperSecurityEventNewLogs_CL"
RULE_NAMES = {"Keeper - master password changed", "Keeper - two-factor authentication turned on or off"}
RULE_IDS = {"720482c2-d53d-4f13-ada1-a95104c36093", "1cdfea6c-c8d4-4958-8376-ba22671a6a5b"}
NRT_DEADLINE = 5.0  # seconds from the 204 to every incident
PLAYBOOK_DEADLINE = 10.0  # further seconds for the webhook calls and emails
ENTERPRISE_ID = 8114


# ---------------------------------------------------------------------------------------------
# The SOC's side: a webhook receiver and an SMTP server that insists on STARTTLS.


class WebhookReceiver:
    """http.server in a thread on 127.0.0.1:0; records every POST (path, headers, raw body)."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.posts.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def snapshot(self):
        with self.lock:
            return list(self.posts)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpHandler:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "subject": str(message.get("Subject", "")),
                    "tls": session.ssl is not None,
                    "message": message,
                }
            )
        return "250 Message accepted for delivery"

    def snapshot(self):
        with self.lock:
            return list(self.messages)


class EphemeralController(Controller):
    """aiosmtpd's Controller, listening on the port the system picks (port 0)."""

    def _trigger_server(self):
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def start_smtp(workdir):
    ca = trustme.CA()
    ca_path = os.path.join(workdir, "smtp-ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    handler = SmtpHandler()
    controller = EphemeralController(
        handler, hostname="127.0.0.1", port=0, tls_context=context, require_starttls=True, ready_timeout=10.0
    )
    controller.start()
    return controller, handler, ca_path


# ---------------------------------------------------------------------------------------------
# Keeper's events, as Keeper pushes them (the DCR stream's snake_case columns).


def keeper_event(audit_event, username, address, category, client_version, data, seconds_ago):
    stamp = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    return {
        "audit_event": audit_event,
        "remote_address": address,
        "category": category,
        "client_version": client_version,
        "enterprise_id": ENTERPRISE_ID,
        "username": username,
        "timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": data,
    }


def first_batch():
    matching = [
        keeper_event("change_master_password", "alice.nakamura@example.com", "198.51.100.23", "security",
                     "Web App.17.0.3", {}, 40),
        keeper_event("change_master_password", "bob.tanaka@example.com", "203.0.113.77", "security",
                     "Keeper Desktop.17.0.1", {}, 35),
        keeper_event("change_master_password", "carol.suzuki@example.com", "192.0.2.141", "security",
                     "iOS.16.11.4", {}, 30),
        keeper_event("set_two_factor_on", "dave.ito@example.com", "198.51.100.164", "security",
                     "Web App.17.0.3", {"channel": "totp"}, 25),
        keeper_event("set_two_factor_off", "erin.sato@example.com", "203.0.113.209", "security",
                     "Android.16.11.2", {"channel": "sms"}, 20),
    ]
    unrelated = [
        keeper_event("login", "frank.kato@example.com", "192.0.2.58", "login", "Web App.17.0.3",
                     {"login_type": "master_password"}, 50),
        keeper_event("open_record", "alice.nakamura@example.com", "198.51.100.23", "usage", "Web App.17.0.3",
                     {"record_uid": "Jx0Ha0xQ8HnWGqbOyVqJ7g"}, 45),
        keeper_event("record_add", "grace.yamada@example.com", "203.0.113.18", "usage", "Keeper Desktop.17.0.1",
                     {"record_uid": "T2sv9fYbq9dS2YV0kM3e4w"}, 15),
        keeper_event("login_failure", "henry.kobayashi@example.com", "192.0.2.203", "login", "Browser Extension.17.0.2",
                     {"reason": "invalid_password"}, 10),
        keeper_event("copy_password", "bob.tanaka@example.com", "203.0.113.77", "usage", "Keeper Desktop.17.0.1",
                     {"record_uid": "b1VQ4zK3mH8e0aYpWcR5nA"}, 5),
    ]
    events = matching[:2] + unrelated[:2] + matching[2:4] + unrelated[2:4] + matching[4:] + unrelated[4:]
    return events, matching, unrelated


def title_of(event):
    return f"{event['audit_event']} on {event['remote_address']}"


def mentions(text, title):
    """`title` occurs in `text`, not as the prefix of a longer address (1.2.3.4 vs 1.2.3.45)."""
    return re.search(re.escape(title) + r"(?![0-9])", text) is not None


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def json_mentions(value, title):
    return any(mentions(text, title) for text in strings_in(value))


# ---------------------------------------------------------------------------------------------
# The checks.


def check_incidents(found, matching, unrelated):
    """Exactly one incident per matching event, with its entities and technique; none other."""
    by_title = {}
    for incident in found:
        by_title.setdefault(incident.get("incidentName"), []).append(incident)
    expected = {title_of(event): event for event in matching}
    names = sorted(str(i.get("incidentName")) for i in found)
    check(len(found) == len(matching), f"expected {len(matching)} incidents, found {len(found)}: {names}")
    for title, event in expected.items():
        hits = by_title.get(title, [])
        check(len(hits) == 1, f"expected one incident titled '{title}', found {len(hits)} (all: {names})")
        incident = hits[0]
        for field in ("incidentId", "incidentName", "status", "severity", "createdTime", "lastUpdateTime",
                      "assignedTo", "classification", "determination", "tags", "comments", "alerts"):
            check(field in incident, f"incident '{title}' lacks {field}: {json.dumps(incident)[:800]}")
        check(isinstance(incident["incidentId"], int), f"incidentId is not an integer: {incident['incidentId']!r}")
        check(incident["severity"] == "Informational", f"incident '{title}' severity {incident['severity']}")
        check(isinstance(incident["tags"], list) and isinstance(incident["comments"], list),
              f"incident '{title}': tags and comments must be arrays")
        check(len(incident["alerts"]) == 1, f"incident '{title}' has {len(incident['alerts'])} alerts, expected 1")
        alert = incident["alerts"][0]
        for field in ("alertId", "title", "description", "severity", "status", "category", "mitreTechniques",
                      "serviceSource", "detectionSource", "entities"):
            check(field in alert, f"alert of '{title}' lacks {field}: {json.dumps(alert)[:800]}")
        check(alert["title"] == title, f"alert title '{alert['title']}', expected '{title}'")
        check(alert["severity"] == "Informational", f"alert '{title}' severity {alert['severity']}")
        check("T1556" in (alert["mitreTechniques"] or []), f"alert '{title}' mitreTechniques {alert['mitreTechniques']}")
        check(alert["serviceSource"] == "Microsoft Sentinel", f"alert '{title}' serviceSource {alert['serviceSource']}")
        users = [e for e in alert["entities"] if e.get("entityType") == "User"]
        ips = [e for e in alert["entities"] if e.get("entityType") == "Ip"]
        username = event["username"]
        local, _, domain = username.partition("@")
        # Defender shows a user principal name split: accountName "alice", domainName
        # "example.com", userPrincipalName "alice@example.com". Either form names the user.
        check(
            any(u.get("accountName") == username
                or (u.get("userPrincipalName") == username and u.get("accountName") == local) for u in users),
            f"alert '{title}' has no User entity for {username}: {alert['entities']}",
        )
        check(any(i.get("ipAddress") == event["remote_address"] for i in ips),
              f"alert '{title}' has no Ip entity {event['remote_address']}: {alert['entities']}")
    for event in unrelated:
        for incident in found:
            check(event["audit_event"] not in str(incident.get("incidentName")),
                  f"an incident was raised for the unrelated event {event['audit_event']}: {incident.get('incidentName')}")


def check_webhooks(posts, titles, secret):
    check(len(posts) == len(titles), f"expected {len(titles)} webhook POSTs, got {len(posts)}")
    seen = {title: 0 for title in titles}
    for post in posts:
        check(post["path"] == "/hook", f"webhook POST to {post['path']}, expected /hook")
        headers = {k.lower(): v for k, v in post["headers"].items()}
        signature = headers.get("x-vigil-signature", "")
        expected = "sha256=" + hmac.new(secret.encode(), post["body"], hashlib.sha256).hexdigest()
        check(hmac.compare_digest(signature, expected),
              f"webhook X-Vigil-Signature {signature!r} is not HMAC-SHA256 of the body ({expected})")
        try:
            body = json.loads(post["body"])
        except ValueError:
            raise Failure(f"webhook body is not JSON: {post['body'][:300]!r}") from None
        hits = [title for title in titles if json_mentions(body, title)]
        check(len(hits) == 1, f"webhook body names {hits}, expected exactly one incident title: {post['body'][:500]!r}")
        seen[hits[0]] += 1
    check(all(count == 1 for count in seen.values()), f"webhook calls per incident: {seen}")


def check_emails(messages, titles):
    check(len(messages) >= len(titles), f"expected at least {len(titles)} emails, got {len(messages)}")
    for message in messages:
        check(message["tls"], f"an email was delivered without STARTTLS: {message['subject']!r}")
        check("soc@example.test" in message["rcpt_tos"], f"email to {message['rcpt_tos']}, expected soc@example.test")
        check(message["mail_from"] == "vigil@example.test", f"email from {message['mail_from']}")
    for title in titles:
        check(any(mentions(m["subject"], title) for m in messages),
              f"no email subject names '{title}': {[m['subject'] for m in messages]}")


def poll_incidents(vigil, bearer, want, since):
    """Polls GET /api/incidents until `want` exist or NRT_DEADLINE has passed since `since`;
    returns them and the seconds from `since` to the answer that showed them."""
    while True:
        asked = time.monotonic()
        found = incidents(vigil, bearer)
        answered = time.monotonic() - since
        if len(found) >= want or asked - since >= NRT_DEADLINE:
            return found, answered
        time.sleep(0.1)


def run(binary, workdir):
    step("starting the webhook receiver and the STARTTLS SMTP server")
    webhook = WebhookReceiver()
    smtp, mailbox, ca_path = start_smtp(workdir)
    note(f"webhook http://127.0.0.1:{webhook.port}/hook, smtp 127.0.0.1:{smtp.port} (CA {ca_path})")

    data = os.path.join(workdir, "data")
    os.makedirs(data)
    vigil = Vigil(binary, data)
    try:
        step("starting vigil serve")
        vigil.start()
        note(f"listening at {vigil.url}")
        scenario(vigil, webhook, mailbox, smtp, ca_path, workdir)
    except Exception as failure:
        if isinstance(failure, (Failure, requests.RequestException, subprocess.TimeoutExpired)):
            print(f"FAILED: {failure}", file=sys.stderr)
        else:
            traceback.print_exc()
            print("FAILED: unexpected error (above)", file=sys.stderr)
        print(vigil.log_tail(), file=sys.stderr)
        raise Reported() from failure
    finally:
        vigil.stop()
        webhook.stop()
        smtp.stop()


def scenario(vigil, webhook, mailbox, smtp, ca_path, workdir):
    d = ["--data-dir", vigil.data]

    step("vigil content install keeper-security")
    pack = vigil.cli("content", "install", "keeper-security", *d, "--url", vigil.url)
    note(json.dumps(pack))
    check(pack.get("pack") == "keeper-security", f"pack: {pack.get('pack')}")
    check(pack.get("tables") == [TABLE], f"tables: {pack.get('tables')}")
    dcrs = pack.get("dcrs") or []
    check(len(dcrs) == 1, f"dcrs: {dcrs}")
    dcr = dcrs[0]
    immutable_id = dcr.get("immutableId") or ""
    check(dcr.get("name") == "KeeperSecurityEventLogs_DCR", f"dcr name: {dcr.get('name')}")
    check(re.fullmatch(r"dcr-[0-9A-Za-z]+", immutable_id), f"immutableId: {immutable_id!r}")
    check(dcr.get("stream") == STREAM, f"dcr stream: {dcr.get('stream')}")
    expected_url = f"{vigil.url}/dataCollectionRules/{immutable_id}/streams/{STREAM}?api-version=2023-01-01"
    check(dcr.get("ingestionUrl") == expected_url, f"ingestionUrl {dcr.get('ingestionUrl')!r}, expected {expected_url!r}")
    rules = pack.get("rules") or []
    check({r.get("name") for r in rules} == RULE_NAMES, f"rules: {rules}")
    check({r.get("id") for r in rules} == RULE_IDS, f"rule ids: {rules}")
    check(len(pack.get("workbooks") or []) == 1, f"workbooks: {pack.get('workbooks')}")

    step("registering the publisher and the responder")
    publisher = vigil.cli("app", "create", *d, "--name", "keeper", "--role", "Monitoring Metrics Publisher",
                          "--scope", f"dcr/{immutable_id}")
    responder = vigil.cli("app", "create", *d, "--name", "soc", "--role", "Responder", "--scope", "tenant")
    for app in (publisher, responder):
        check(all(app.get(k) for k in ("tenant_id", "client_id", "client_secret")), f"app create printed {list(app)}")
    note(f"tenant {publisher['tenant_id']}, publisher {publisher['client_id']}, responder {responder['client_id']}")

    step("importing the automation rule and its playbooks")
    secret = secrets.token_hex(32)
    automation = f"""playbooks:
  - name: notify-webhook
    kind: webhook
    url: http://127.0.0.1:{webhook.port}/hook
    secret: "{secret}"
  - name: notify-email
    kind: email
    host: 127.0.0.1
    port: {smtp.port}
    security: starttls
    caCertFile: "{ca_path}"
    from: vigil@example.test
    to: [soc@example.test]
automationRules:
  - name: Tell the team about Keeper incidents
    order: 1
    triggersOn: Incidents
    triggersWhen: Created
    conditions:
      - property: AnalyticRuleName
        operator: StartsWith
        values: ["Keeper - "]
    actions:
      - runPlaybook: notify-webhook
      - runPlaybook: notify-email
"""
    automation_path = os.path.join(workdir, "automation.yaml")
    with open(automation_path, "w") as file:
        file.write(automation)
    imported = vigil.cli("automation", "import", *d, "--file", automation_path, json_output=False)
    note(imported if isinstance(imported, str) else json.dumps(imported))

    step("pushing Keeper events as Keeper does (gzip JSON array, bearer token)")
    ingest_token = token(vigil, publisher, INGEST_SCOPE)
    soc_token = token(vigil, responder, DEFENDER_SCOPE)
    events, matching, unrelated = first_batch()
    acknowledged = ingest(dcr["ingestionUrl"], ingest_token, vigil.cert, events)
    note(f"204 for {len(events)} events ({len(matching)} should alert, {len(unrelated)} should not)")

    step(f"waiting up to {NRT_DEADLINE:.0f} s for one incident per matching event")
    found, elapsed = poll_incidents(vigil, soc_token, len(matching), acknowledged)
    note(f"{len(found)} incidents {elapsed:.2f} s after the 204")
    check(len(found) >= len(matching),
          f"only {len(found)} of {len(matching)} incidents {elapsed:.2f} s after the 204: "
          f"{[i.get('incidentName') for i in found]}")
    check_incidents(found, matching, unrelated)
    titles = [title_of(e) for e in matching]
    note("one incident per matching event, with User and Ip entities and T1556: " + "; ".join(titles))

    step(f"waiting up to {PLAYBOOK_DEADLINE:.0f} s for the webhook calls and the emails")
    started = time.monotonic()
    wait_for(lambda: len(webhook.snapshot()) >= len(titles) and len(mailbox.snapshot()) >= len(titles),
             PLAYBOOK_DEADLINE)
    note(f"{len(webhook.snapshot())} webhook calls and {len(mailbox.snapshot())} emails after "
         f"{time.monotonic() - started:.2f} s")
    check_webhooks(webhook.snapshot(), titles, secret)
    note("every webhook call is signed (X-Vigil-Signature) and names its incident")
    check_emails(mailbox.snapshot(), titles)
    note("every email came over STARTTLS and its subject names the incident")
    again = incidents(vigil, soc_token)
    check(len(again) == len(matching), f"incidents grew to {len(again)} after the first {len(matching)}")

    step("the Defender alerts API: $filter, $top, and a misspelled property")
    top2 = alerts(vigil, soc_token, {"$filter": "severity eq 'Informational' and status eq 'New'", "$top": 2})
    check(len(top2) == 2, f"$top=2 returned {len(top2)} alerts")
    incident_ids = {i["incidentId"] for i in found}
    for alert in top2:
        for field in ("id", "incidentId", "title", "severity", "status", "alertCreationTime", "lastUpdateTime",
                      "mitreTechniques"):
            check(field in alert, f"alert lacks {field}: {json.dumps(alert)[:800]}")
        check(alert["severity"] == "Informational" and alert["status"] == "New",
              f"filtered alert has severity {alert['severity']} and status {alert['status']}")
        check(alert["incidentId"] in incident_ids, f"alert incidentId {alert['incidentId']} is not one of {incident_ids}")
        check("T1556" in (alert["mitreTechniques"] or []), f"alert mitreTechniques {alert['mitreTechniques']}")
        check(alert["title"] in titles, f"alert title {alert['title']!r}")
    bad = api_get(vigil, soc_token, "/api/alerts" + odata({"$filter": "severty eq 'High'"}))
    check(bad.status_code == 400, f"$filter=severty eq 'High': expected 400, got {bad.status_code} {bad.text[:300]}")
    try:
        bad_body = bad.json()
    except ValueError:
        raise Failure(f"the 400 body is not JSON: {bad.text[:300]!r}") from None
    check("severty" in json.dumps(bad_body), f"the 400 body does not name severty: {bad_body}")
    note(f"400 for a misspelled property: {json.dumps(bad_body)[:200]}")

    before = len(alerts(vigil, soc_token, {"$top": 10000}))
    check(before == len(matching), f"{before} alerts in all, expected {len(matching)}")

    step("restarting vigil serve on the same data dir")
    status = vigil.stop()
    check(status == 0, f"vigil serve exited with status {status} on SIGTERM, expected 0")
    note("stopped cleanly on SIGTERM")
    vigil.start()
    note(f"listening again at {vigil.url}")
    time.sleep(3)
    soc_token = token(vigil, responder, DEFENDER_SCOPE)
    after = len(alerts(vigil, soc_token, {"$top": 10000}))
    check(after == before, f"{after} alerts after the restart, {before} before: the restart duplicated alerts")
    check(len(incidents(vigil, soc_token)) == len(matching), "the restart changed the number of incidents")
    check(len(webhook.snapshot()) == len(titles), f"{len(webhook.snapshot())} webhook calls after the restart, "
          f"{len(titles)} before: the restart re-ran playbooks")
    note(f"{after} alerts, {len(matching)} incidents, {len(titles)} webhook calls: nothing duplicated")

    step("one more master password change after the restart")
    origin = urlsplit(vigil.url)
    ingestion_url = urlsplit(dcr["ingestionUrl"])._replace(scheme=origin.scheme, netloc=origin.netloc).geturl()
    extra = keeper_event("change_master_password", "ivan.fujita@example.com", "198.51.100.232", "security",
                         "Web App.17.0.3", {}, 1)
    acknowledged = ingest(ingestion_url, token(vigil, publisher, INGEST_SCOPE), vigil.cert, [extra])
    grown, elapsed = poll_incidents(vigil, soc_token, len(matching) + 1, acknowledged)
    note(f"{len(grown)} incidents {elapsed:.2f} s after the 204")
    check(len(grown) == len(matching) + 1,
          f"expected {len(matching) + 1} incidents within {NRT_DEADLINE:.0f} s, found {len(grown)} after {elapsed:.2f} s")
    new = [i for i in grown if i.get("incidentName") == title_of(extra)]
    check(len(new) == 1, f"no single incident titled '{title_of(extra)}': {[i.get('incidentName') for i in grown]}")
    check_incidents(grown, matching + [extra], unrelated)
    got = wait_for(lambda: len(webhook.snapshot()) > len(titles), PLAYBOOK_DEADLINE)
    check(got, "the automation rule did not run its webhook for the incident raised after the restart")
    check_webhooks(webhook.snapshot(), titles + [title_of(extra)], secret)
    note(f"'{title_of(extra)}': one incident and one signed webhook call after the restart")


def main():
    if len(sys.argv) != 2:
        print("usage: keeper_e2e.py PATH-TO-VIGIL", file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        print(f"FAILED: {binary} is not an executable vigil binary", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="vigil-keeper-e2e-")
    try:
        run(binary, workdir)
    except Reported:
        print(f"(the data dir and logs are kept in {workdir})", file=sys.stderr)
        return 1
    except Exception as failure:  # before the server started: receivers, SMTP server
        traceback.print_exc()
        print(f"FAILED: {failure}\n(the work dir is kept in {workdir})", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("keeper e2e: events to incidents, signed webhooks and STARTTLS emails, Defender APIs and a clean restart")
    return 0


if __name__ == "__main__":
    sys.exit(main())
