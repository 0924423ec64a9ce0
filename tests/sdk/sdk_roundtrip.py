"""Microsoft's own Python SDKs against a running Vigil, unmodified.

azure-identity gets a token from Vigil's token service; azure-monitor-ingestion uploads
Keeper Security events to the Keeper DCR; azure-monitor-query reads them back with KQL.
Settings come from the environment (see run.sh); the server's self-signed certificate is
trusted through REQUESTS_CA_BUNDLE and SSL_CERT_FILE.
"""

import os
import sys
import uuid
from datetime import datetime, timedelta, timezone

from azure.identity import ClientSecretCredential
from azure.monitor.ingestion import LogsIngestionClient
from azure.monitor.query import LogsQueryClient, LogsQueryStatus

ENDPOINT = os.environ["VIGIL_URL"]
TENANT = os.environ["VIGIL_TENANT_ID"]
WORKSPACE = os.environ["VIGIL_WORKSPACE_ID"]
DCR = os.environ["VIGIL_DCR_ID"]
STREAM = "Custom-KeeperSecurityEventNewLogs"
RECORDS = int(os.environ.get("VIGIL_SDK_RECORDS", "3000"))


def credential(client_id_var, secret_var):
    return ClientSecretCredential(
        TENANT,
        os.environ[client_id_var],
        os.environ[secret_var],
        authority=ENDPOINT,
        disable_instance_discovery=True,
    )


def keeper_event(index, run):
    events = ["login", "change_master_password", "set_two_factor_on", "set_two_factor_off", "record_add"]
    return {
        "audit_event": events[index % len(events)],
        "remote_address": f"203.0.113.{index % 250}",
        "category": "security",
        "client_version": "EMConsole.17.0.0",
        "enterprise_id": 8114,
        "username": f"user{index % 37}@example.com",
        "timestamp": (datetime.now(timezone.utc) - timedelta(seconds=index)).isoformat(),
        "data": {"run": run, "index": index},
    }


def main():
    publisher = credential("VIGIL_PUBLISHER_ID", "VIGIL_PUBLISHER_SECRET")
    token = publisher.get_token("https://monitor.azure.com/.default")
    assert token.token.count(".") == 2, "azure-identity did not get a JWT"
    print(f"azure-identity: got a token expiring at {token.expires_on}")

    run = str(uuid.uuid4())
    logs = [keeper_event(i, run) for i in range(RECORDS)]
    ingestion = LogsIngestionClient(endpoint=ENDPOINT, credential=publisher, logging_enable=False)
    failed = []
    ingestion.upload(rule_id=DCR, stream_name=STREAM, logs=logs, on_error=lambda e: failed.append(e))
    assert not failed, f"upload failed: {failed[0].error}"
    print(f"azure-monitor-ingestion: uploaded {RECORDS} records")

    reader = credential("VIGIL_READER_ID", "VIGIL_READER_SECRET")
    query = LogsQueryClient(reader, endpoint=f"{ENDPOINT}/v1")
    response = query.query_workspace(
        WORKSPACE,
        f"KeeperSecurityEventNewLogs_CL | where tostring(Data.run) == '{run}' "
        "| summarize Records = count(), Users = dcount(Username), Changes = countif(AuditEvent == 'change_master_password')",
        timespan=timedelta(hours=1),
    )
    assert response.status == LogsQueryStatus.SUCCESS, response
    row = response.tables[0].rows[0]
    expected_changes = len([e for e in logs if e["audit_event"] == "change_master_password"])
    assert (row[0], row[1], row[2]) == (RECORDS, 37, expected_changes), f"read back {list(row)}"
    print(f"azure-monitor-query: read back {row[0]} records, {row[1]} users, {row[2]} master-password changes")

    sample = query.query_workspace(
        WORKSPACE,
        f"KeeperSecurityEventNewLogs_CL | where tostring(Data.run) == '{run}' | top 1 by Timestamp desc "
        "| project TimeGenerated, AuditEvent, RemoteAddress, EnterpriseId, Timestamp",
        timespan=timedelta(hours=1),
    )
    table = sample.tables[0]
    assert table.columns == ["TimeGenerated", "AuditEvent", "RemoteAddress", "EnterpriseId", "Timestamp"], table.columns
    first = table.rows[0]
    assert isinstance(first[0], datetime) and first[2] == "203.0.113.0" and first[3] == 8114, list(first)
    print(f"azure-monitor-query: typed row {list(first)}")

    try:
        query.query_workspace(WORKSPACE, "KeeperSecurityEventNewLogs_CL | where Usernme == 'x'", timespan=timedelta(hours=1))
        raise AssertionError("a misspelled column was accepted")
    except AssertionError:
        raise
    except Exception as error:  # HttpResponseError, with the diagnostic
        assert "Usernme" in str(error), str(error)
        print("azure-monitor-query: a misspelled column is refused with its diagnostic")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
