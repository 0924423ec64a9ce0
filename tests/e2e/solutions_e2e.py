"""Sentinel solutions as they ship, end to end, with real processes.

A real `vigil serve --tls-self-signed` imports, with `vigil content import`, four solutions of
the development set exactly as the Azure-Sentinel repository has them: Keeper Security (a custom
table and its DCR), CiscoDuoSecurity (a parser its rules call, codeless connectors' tables and
DCRs), LastPass (a watchlist) and SlackAudit (a parser, a codeless connector's table and DCR).
Every item that is content installs. Events then go in through the Logs Ingestion API and must
come out as the solutions' alerts:

- Keeper: events sent to the installed DCR raise the solution's NRT alerts.
- CiscoDuo, SlackAudit: events sent to the installed codeless connectors' DCRs land in their
  tables, transformed by the DCRs. The solutions' rules do not read those tables (their parsers
  read the legacy `CiscoDuo_CL` and `SlackAudit_CL`, an upstream mismatch), so alerts come from
  events sent, as Microsoft's guide for moving off the HTTP Data Collector API says, through a
  DCR into the legacy table: its columns grow with type suffixes as Log Analytics grows them.
- LastPass: the rule reads the watchlist `LastPass`, which the solution's watchlist template
  does not name (an upstream mismatch): the SOC creates it from the solution's CSV, then events
  sent through a DCR into the poller's table raise the alerts.

Scheduled rules run on demand (Sentinel's `triggerRuleRun`) instead of at their hourly phase.

Usage: solutions_e2e.py PATH-TO-VIGIL CONFORMANCE-DIR
"""

import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime, timedelta, timezone

import requests

from harness import (
    DEFENDER_SCOPE,
    INGEST_SCOPE,
    MANAGEMENT_SCOPE,
    Failure,
    Reported,
    Vigil,
    api_get,
    check,
    ingest,
    note,
    step,
    token,
    wait_for,
)

QUERY_SCOPE = "https://api.loganalytics.io/.default"
# Report lines that are not content Vigil installs: connector pages, pollers and Azure Function
# templates that run outside Vigil, and a solution's package, which repeats its files.
NOT_CONTENT = {"connector", "template", "package"}


class Soc:
    """The SOC's side of the server: the owner's tokens and the REST calls it makes."""

    def __init__(self, vigil):
        self.vigil = vigil
        with open(os.path.join(vigil.data, "owner-credential.json")) as file:
            self.owner = json.load(file)
        self.management = token(vigil, self.owner, MANAGEMENT_SCOPE)
        self.defender = token(vigil, self.owner, DEFENDER_SCOPE)
        self.logs = token(vigil, self.owner, QUERY_SCOPE)

    def call(self, method, path, body=None, bearer=None):
        response = requests.request(
            method,
            f"{self.vigil.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {bearer or self.management}"},
            verify=self.vigil.cert,
            timeout=60,
        )
        check(response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:1500]}")
        return response.json() if response.content else None

    def query(self, kql):
        body = self.call("POST", "/v1/workspaces/default/query", {"query": kql, "timespan": "P1D"}, self.logs)
        table = body["tables"][0]
        names = [c["name"] for c in table["columns"]]
        return [dict(zip(names, row)) for row in table["rows"]]

    def rows_soon(self, kql, want, seconds=10):
        """The query's rows once there are `want` of them (ingestion is visible within a second)."""
        rows = []

        def enough():
            nonlocal rows
            rows = self.query(kql)
            return len(rows) >= want

        wait_for(enough, seconds, interval=0.3)
        check(len(rows) == want, f"{kql}: {len(rows)} rows, expected {want}: {rows}")
        return rows

    def trigger(self, rule_id):
        return self.call("POST", f"/api/workspaces/default/rules/{rule_id}/triggerRuleRun", {})

    def alerts_of(self, rule_id):
        response = api_get(self.vigil, self.defender, "/api/alerts?$top=1000")
        check(response.status_code == 200, f"GET /api/alerts: {response.status_code} {response.text[:500]}")
        return [a for a in response.json()["value"] if a.get("detectorId") == rule_id]

    def put_dcr(self, name, dcr):
        return self.call("PUT", f"/api/workspaces/default/dcrs/{name}", dcr)


def import_solution(vigil, path):
    """`vigil content import PATH --json`: the report, checked to have installed all content."""
    report = vigil.cli("content", "import", "--data-dir", vigil.data, "--url", vigil.url, "--json", path)
    lines = report["lines"]
    for line in lines:
        if line["status"] != "skipped":
            continue
        duplicate = line["detail"].startswith("also defined by")
        parser_text = line["kind"] == "function" and line["file"].endswith(".txt")
        check(
            line["kind"] in NOT_CONTENT or duplicate or parser_text,
            f"{path}: {line['kind']} '{line['name']}' ({line['file']}) was skipped: {line['detail']}",
        )
    installed = {}
    for line in lines:
        if line["status"] == "installed":
            installed[line["kind"]] = installed.get(line["kind"], 0) + 1
    notes = [f"{line['kind']} {line['name']}: {line['detail']}" for line in lines if line["status"] == "note"]
    note(f"{os.path.basename(path)}: installed {json.dumps(installed, sort_keys=True)}; "
         f"{sum(1 for l in lines if l['status'] == 'skipped')} skipped (not content or repeated)")
    for text in notes:
        note(f"  note: {text}")
    return report


def publisher_for(vigil, dcr_ids):
    """An application that may publish to these DCRs only, and its ingestion token."""
    args = ["app", "create", "--data-dir", vigil.data, "--name", f"publisher-{len(dcr_ids)}-{dcr_ids[0][-6:]}"]
    for dcr in dcr_ids:
        args += ["--role", "Monitoring Metrics Publisher", "--scope", f"dcr/{dcr}"]
    return token(vigil, vigil.cli(*args), INGEST_SCOPE)


def dcr_url(report, stream):
    urls = [d["ingestionUrl"] for d in report["dcrs"] if d["stream"] == stream]
    check(len(urls) == 1, f"one installed DCR with stream {stream}: {report['dcrs']}")
    return urls[0]


def immutable_id(url):
    return url.split("/dataCollectionRules/")[1].split("/")[0]


def expect_alerts(soc, rule_id, want, mention):
    found = soc.alerts_of(rule_id)
    check(len(found) == want, f"rule {rule_id}: {len(found)} alerts, expected {want}: {[a['title'] for a in found]}")
    for alert in found:
        check(mention in json.dumps(alert), f"rule {rule_id}: the alert does not mention {mention!r}: {alert}")
    return found


def keeper(vigil, soc, conformance):
    step("Keeper Security: the solution's table, DCR, NRT rules and workbook, as shipped")
    report = import_solution(vigil, os.path.join(conformance, "sentinel", "keeper-security"))
    url = dcr_url(report, "Custom-KeeperSecurityEventNewLogs")
    publisher = publisher_for(vigil, [immutable_id(url)])
    now = datetime.now(timezone.utc)
    events = [
        {"audit_event": event, "remote_address": address, "category": "security", "client_version": "Web App.17.0.3",
         "enterprise_id": 8114, "username": user, "timestamp": (now - timedelta(seconds=5)).isoformat(), "data": {}}
        for event, address, user in [
            ("change_master_password", "198.51.100.23", "alice@example.com"),
            ("set_two_factor_off", "203.0.113.9", "bob@example.com"),
            ("login", "192.0.2.1", "carol@example.com"),
        ]
    ]
    ingest(url, publisher, vigil.cert, events)
    found = []

    def both():
        nonlocal found
        found = soc.alerts_of("f031fbbc-37d8-4667-b795-d386bf2b5ab2") + soc.alerts_of("75ffc8a4-86db-4f48-8506-cb4c049be484")
        return len(found) >= 2

    wait_for(both, 10, interval=0.3)
    titles = sorted(a["title"] for a in found)
    check(titles == ["change_master_password on 198.51.100.23", "set_two_factor_off on 203.0.113.9"], f"titles {titles}")
    note(f"events through the installed DCR raised the solution's NRT alerts: {titles}")


def cisco_duo(vigil, soc, conformance):
    step("CiscoDuoSecurity: its parser, codeless connectors' tables and DCRs, rules, hunting queries, workbook")
    report = import_solution(vigil, os.path.join(conformance, "sentinel", "solutions", "CiscoDuoSecurity"))
    functions = soc.call("GET", "/api/workspaces/default/functions")["value"]
    check(any(f["name"] == "CiscoDuo" for f in functions), f"the CiscoDuo parser is a function: {functions}")

    url = dcr_url(report, "Custom-DuoAuthentication_CL")
    publisher = publisher_for(vigil, [immutable_id(url)])
    # An authentication log record as Duo's Admin API returns it, which the CCF connector polls.
    auth = {
        "access_device": {"ip": "198.51.100.77", "os": "Windows", "browser": "Edge",
                          "location": {"city": "Osaka", "country": "Japan", "state": "Osaka"}},
        "application": {"key": "DIY231J8BR23QK4UKBY8", "name": "Microsoft Azure Active Directory"},
        "auth_device": {"ip": "192.0.2.40", "location": {"city": "Osaka", "country": "Japan", "state": "Osaka"},
                        "name": "My iPhone X (734-555-2342)"},
        "event_type": "authentication", "factor": "duo_push", "reason": "user_approved", "result": "success",
        "timestamp": int(time.time()) - 30, "txid": "340a23e3-23f3-4e4f-9c4c-8d4a0b0e3b9d",
        "user": {"key": "DU3KC77WJ06Y5HIV7XKQ", "name": "narroway@example.com", "groups": ["Duo Users"]},
        "isotimestamp": (datetime.now(timezone.utc) - timedelta(seconds=30)).isoformat(),
    }
    ingest(url, publisher, vigil.cert, [auth])
    rows = soc.rows_soon("DuoAuthentication_CL | project UserName, AccessDeviceIp, AccessDeviceCity, Result", 1)
    check(rows[0] == {"UserName": "narroway@example.com", "AccessDeviceIp": "198.51.100.77", "AccessDeviceCity": "Osaka",
                      "Result": "success"}, f"transformed: {rows}")
    note(f"an authentication record through the installed CiscoDuoAuthDCR landed in DuoAuthentication_CL: {rows[0]}")

    # The rules read CiscoDuo_CL through the parser: events go there through a DCR, as Duo's
    # legacy connector wrote them (flattened fields, stored with Log Analytics' type suffixes).
    legacy = soc.put_dcr("CiscoDuoLegacy", {"name": "CiscoDuoLegacy", "properties": {
        "streamDeclarations": {"Custom-CiscoDuoAdmin": {"columns": [
            {"name": "action", "type": "string"}, {"name": "username", "type": "string"},
            {"name": "object", "type": "string"}, {"name": "description", "type": "string"},
            {"name": "host", "type": "string"}, {"name": "timestamp", "type": "long"},
            {"name": "eventtype", "type": "string"}]}},
        "dataFlows": [{"streams": ["Custom-CiscoDuoAdmin"], "outputStream": "Custom-CiscoDuo_CL",
                       "transformKql": "source | extend TimeGenerated = unixtime_seconds_todatetime(timestamp)"}]}})
    publisher = publisher_for(vigil, [legacy["immutable_id"]])
    legacy_url = legacy["streams"][0]["url"]
    stamp = int(time.time()) - 60
    admin_events = [
        {"action": "admin_delete", "username": "mallory.admin", "object": "bob.admin", "host": "api-1234.duosecurity.com",
         "timestamp": stamp, "eventtype": "administrator", "description": json.dumps({"ip_address": "203.0.113.66"})},
        {"action": "admin_login", "username": "alice.admin", "object": "", "host": "api-1234.duosecurity.com",
         "timestamp": stamp, "eventtype": "administrator", "description": "{}"},
    ]
    ingest(legacy_url, publisher, vigil.cert, admin_events)
    soc.rows_soon("CiscoDuo | where DvcAction == 'admin_delete' | project DstUserName, SrcIpAddr", 1)
    columns = soc.query("CiscoDuo_CL | getschema | project ColumnName")
    grown = sorted(c["ColumnName"] for c in columns if c["ColumnName"] in ("action_s", "username_s", "timestamp_d"))
    check(grown == ["action_s", "timestamp_d", "username_s"], f"CiscoDuo_CL grew {grown}")
    run = soc.trigger("6424c623-31a5-4892-be33-452586fd4075")
    check(run["alerts"] == 1, f"'Cisco Duo - Admin user deleted' on demand: {run}")
    expect_alerts(soc, "6424c623-31a5-4892-be33-452586fd4075", 1, "mallory.admin")
    note("events in Duo's legacy shape raised 'Cisco Duo - Admin user deleted' through the CiscoDuo parser")


def last_pass(vigil, soc, conformance, workdir):
    step("LastPass: its watchlist, rules, hunting queries and workbook")
    solution = os.path.join(conformance, "sentinel", "solutions", "LastPass")
    report = import_solution(vigil, solution)
    watchlists = soc.call("GET", "/api/workspaces/default/watchlists")["value"]
    check(len(watchlists) == 1 and watchlists[0]["itemsSearchKey"] == "name", f"the solution's watchlist: {watchlists}")
    check(any("reads watchlist 'LastPass'" in line["detail"] for line in report["lines"]),
          "the report says which watchlist the rule expects")

    # The SOC creates the watchlist the rule reads, from the solution's own CSV.
    with open(os.path.join(solution, "Watchlists", "HighlySensitivePasswords.json"), encoding="utf-8-sig") as file:
        template = json.load(file)
    csv_path = os.path.join(workdir, "LastPass.csv")
    with open(csv_path, "w", newline="") as file:
        file.write(template["resources"][0]["properties"]["rawContent"])
    vigil.cli("watchlist", "create", "--data-dir", vigil.data, "--alias", "LastPass", "--search-key", "name",
              "--file", csv_path, "--display-name", "LastPass sensitive items")
    check(soc.query("_GetWatchlist('LastPass') | count")[0]["Count"] == 2, "the LastPass watchlist has 2 items")

    dcr = soc.put_dcr("LastPassEvents", {"name": "LastPassEvents", "properties": {
        "streamDeclarations": {"Custom-LastPassReport": {"columns": [
            {"name": "Time", "type": "datetime"}, {"name": "Username", "type": "string"},
            {"name": "IP_Address", "type": "string"}, {"name": "Action", "type": "string"},
            {"name": "Data", "type": "string"}]}},
        "dataFlows": [{"streams": ["Custom-LastPassReport"], "outputStream": "Custom-LastPassNativePoller_CL",
                       "transformKql": "source | extend TimeGenerated = Time | project-away Time"}]}})
    publisher = publisher_for(vigil, [dcr["immutable_id"]])
    at = (datetime.now(timezone.utc) - timedelta(minutes=2)).isoformat()
    events = [
        {"Time": at, "Username": "erin@example.com", "IP_Address": "198.51.100.5", "Action": "Open Password",
         "Data": "Samplevalue1"},
        {"Time": at, "Username": "frank@example.com", "IP_Address": "198.51.100.6", "Action": "Open Password",
         "Data": "not-sensitive"},
        {"Time": at, "Username": "grace@example.com", "IP_Address": "198.51.100.7",
         "Action": "Employee Account Deleted", "Data": ""},
    ]
    ingest(dcr["streams"][0]["url"], publisher, vigil.cert, events)
    soc.rows_soon("LastPassNativePoller_CL | project Username_s, Data_s", 3)
    for rule_id, mention in [("b39e6482-ab7e-4817-813d-ec910b64b26e", "erin@example.com"),
                             ("8a2cc466-342d-4ebb-8871-f9e1d83a24a5", "grace@example.com")]:
        run = soc.trigger(rule_id)
        check(run["alerts"] == 1, f"rule {rule_id} on demand: {run}")
        expect_alerts(soc, rule_id, 1, mention)
    note("'Highly Sensitive Password Accessed' (through the watchlist) and 'Employee account deleted' raised one alert each")


def slack_audit(vigil, soc, conformance):
    step("SlackAudit: its codeless connector's table and DCR, its parser, rules, hunting queries, workbook")
    report = import_solution(vigil, os.path.join(conformance, "sentinel", "solutions", "SlackAudit"))
    url = dcr_url(report, "Custom-SlackAudit_CL")
    publisher = publisher_for(vigil, [immutable_id(url)])
    # An audit log entry as Slack's Audit Logs API returns it, which the CCP connector polls.
    created = int(time.time()) - 120
    entry = {
        "id": "0123a45b-6c7d-8900-e12f-3456789gh0i1", "date_create": created, "action": "user_login",
        "actor": {"type": "user", "user": {"id": "W123AB456", "name": "Charlie Parker", "email": "bird@slack.example"}},
        "entity": {"type": "user", "user": {"id": "W123AB456", "name": "Charlie Parker", "email": "bird@slack.example"}},
        "context": {"location": {"type": "enterprise", "id": "E1701NCCA", "name": "Jazz", "domain": "jazz"},
                    "ua": "Mozilla/5.0", "ip_address": "198.51.100.12"},
        "details": {},
    }
    ingest(url, publisher, vigil.cert, [entry])
    rows = soc.rows_soon("SlackAuditV2_CL | project TimeGenerated, Action, ActionDescription, DateCreate", 1)
    expected_time = datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    check(rows[0]["Action"] == "user_login" and rows[0]["TimeGenerated"].startswith(expected_time), f"transformed: {rows}")
    note(f"an audit entry through the installed SlackAuditDCR landed transformed in SlackAuditV2_CL: {rows[0]}")

    legacy = soc.put_dcr("SlackAuditLegacy", {"name": "SlackAuditLegacy", "properties": {
        "streamDeclarations": {"Custom-SlackAuditFlat": {"columns": [
            {"name": "TimeGenerated", "type": "datetime"}, {"name": "action", "type": "string"},
            {"name": "actor_user_name", "type": "string"}, {"name": "actor_user_email", "type": "string"},
            {"name": "entity_user_name", "type": "string"}, {"name": "context_ip_address", "type": "string"}]}},
        "dataFlows": [{"streams": ["Custom-SlackAuditFlat"], "outputStream": "Custom-SlackAudit_CL"}]}})
    publisher = publisher_for(vigil, [legacy["immutable_id"]])
    at = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    ingest(legacy["streams"][0]["url"], publisher, vigil.cert, [
        {"TimeGenerated": at, "action": "role_change_to_admin", "actor_user_name": "mallory",
         "actor_user_email": "mallory@slack.example", "entity_user_name": "mallory", "context_ip_address": "203.0.113.8"},
        {"TimeGenerated": at, "action": "user_login", "actor_user_name": "dave",
         "actor_user_email": "dave@slack.example", "entity_user_name": "dave", "context_ip_address": "192.0.2.8"},
    ])
    soc.rows_soon("SlackAudit | where DvcAction == 'role_change_to_admin' | project SrcUserName", 1)
    run = soc.trigger("be6c5fc9-2ac3-43e6-8fb0-cb139e04e43e")
    check(run["alerts"] == 1, f"'SlackAudit - User role changed to admin or owner' on demand: {run}")
    expect_alerts(soc, "be6c5fc9-2ac3-43e6-8fb0-cb139e04e43e", 1, "mallory")
    note("events in the legacy connector's shape raised 'User role changed to admin or owner' through the SlackAudit parser")


def run(binary, conformance, workdir):
    vigil = Vigil(binary, os.path.join(workdir, "data"))
    try:
        vigil.start()
        soc = Soc(vigil)
        keeper(vigil, soc, conformance)
        cisco_duo(vigil, soc, conformance)
        last_pass(vigil, soc, conformance, workdir)
        slack_audit(vigil, soc, conformance)
        step("every workbook of the four solutions is saved")
        names = sorted(w["name"] for w in soc.call("GET", "/api/workspaces/default/workbooks"))
        check(names == ["CiscoDuo", "KeeperSecurityDashboard", "LastPassWorkbook", "SlackAudit"], f"workbooks {names}")
        note(", ".join(names))
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        print(vigil.log_tail(), file=sys.stderr)
        raise Reported() from failure
    except Exception:
        traceback.print_exc()
        print(vigil.log_tail(), file=sys.stderr)
        raise Reported()
    finally:
        vigil.stop()


def main():
    if len(sys.argv) != 3:
        print("usage: solutions_e2e.py PATH-TO-VIGIL CONFORMANCE-DIR", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="vigil-solutions-e2e-")
    started = time.monotonic()
    try:
        run(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), workdir)
    except Reported:
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"solutions e2e: four solutions imported as shipped, their alerts raised ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
