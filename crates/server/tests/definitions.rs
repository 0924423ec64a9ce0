//! What a workspace has besides its custom tables, over real HTTPS: the standard tables (empty
//! and queryable, filled as data arrives, `AzureDiagnostics` growing a column per field),
//! saved functions, watchlists and content import, with their limits and their refusals.

mod common;

use common::{Server, call, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value as Json, json};
use vigil_control::{Role, Scope};

const MANAGEMENT: &str = "https://management.azure.com/.default";

impl Server {
    /// A token of a new application holding `role` on the tenant.
    async fn app_token(&self, name: &str, role: Role, scope: &str) -> String {
        let app = self
            .state
            .control
            .create_app(&self.tenant, name, &[(role, Scope::Tenant(self.tenant.clone()))], None)
            .await
            .unwrap();
        self.access_token(&(app.client_id, app.client_secret), scope).await
    }

    /// A query's rows, which must succeed.
    async fn rows(&self, token: &str, query: &str) -> Vec<Json> {
        let (status, body) = self.query(&self.workspace, token, query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body["tables"][0]["rows"].as_array().cloned().unwrap_or_default()
    }

    async fn reader_token(&self) -> String {
        self.access_token(&self.reader, &format!("{}/.default", self.url)).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_tables_answer_before_data_and_fill_as_it_arrives() {
    let server = start().await;
    let reader = server.reader_token().await;
    for query in [
        "WindowsEvent | count",
        "AWSCloudTrail | where EventName == 'ConsoleLogin' | count",
        "W3CIISLog | summarize count() by csUriStem | count",
        "DeviceProcessEvents | where Timestamp > ago(1d) | summarize arg_max(Timestamp, *) by DeviceId | count",
        // AzureDiagnostics has the columns every table has, and every type-suffixed one.
        "AzureDiagnostics | where TimeGenerated > ago(1h) and isnotempty(clientIP_s) | summarize count() by Type | count",
    ] {
        assert_eq!(server.rows(&reader, query).await, vec![json!([0])], "{query}");
    }

    // A DCR into AzureDiagnostics and one into a Defender table.
    let dcr = r#"{"name":"standard","properties":{"streamDeclarations":{
        "Custom-Gateway":{"columns":[{"name":"Category","type":"string"},{"name":"requestUri","type":"string"},
            {"name":"httpStatus","type":"long"},{"name":"details","type":"dynamic"},{"name":"clientIP_s","type":"string"}]},
        "Custom-Device":{"columns":[{"name":"Timestamp","type":"datetime"},{"name":"DeviceName","type":"string"},
            {"name":"ActionType","type":"string"}]}},
      "dataFlows":[{"streams":["Custom-Gateway"],"outputStream":"Microsoft-AzureDiagnostics"},
                   {"streams":["Custom-Device"],"outputStream":"Microsoft-DeviceEvents"}]}}"#;
    let control = &server.state.control;
    let dcr = control.put_dcr(&server.workspace, dcr, &vigil_content::check_transform).await.unwrap().immutable_id;
    let publisher = control
        .create_app(&server.tenant, "gateway", &[(Role::MonitoringMetricsPublisher, Scope::Dcr(dcr.clone()))], None)
        .await
        .unwrap();
    let publisher = server
        .access_token(&(publisher.client_id, publisher.client_secret), "https://monitor.azure.com/.default")
        .await;
    let gateway = json!([
        {"Category": "ApplicationGatewayAccessLog", "requestUri": "/login", "httpStatus": 401,
         "details": {"rule": 7}, "clientIP_s": "198.51.100.7"},
        {"Category": "ApplicationGatewayAccessLog", "requestUri": "/", "httpStatus": 200}
    ]);
    let (status, body) =
        server.ingest(&dcr, "Custom-Gateway", Some(&publisher), serde_json::to_vec(&gateway).unwrap(), false).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let rows = server
        .rows(
            &reader,
            "AzureDiagnostics | sort by httpStatus_d asc \
             | project Category, requestUri_s, httpStatus_d, details_s, clientIP_s, Type, isnotempty(TenantId), \
                       isnotempty(_ItemId), isnotnull(TimeGenerated)",
        )
        .await;
    assert_eq!(
        rows,
        vec![
            json!(["ApplicationGatewayAccessLog", "/", 200.0, "", "", "AzureDiagnostics", true, true, true]),
            json!([
                "ApplicationGatewayAccessLog",
                "/login",
                401.0,
                "{\"rule\":7}",
                "198.51.100.7",
                "AzureDiagnostics",
                true,
                true,
                true
            ]),
        ]
    );
    // The table grew one column, for the one field its documented columns lack.
    let columns = server.state.store.table_columns(&server.workspace, "AzureDiagnostics").unwrap();
    let documented = vigil_catalog::standard::table("AzureDiagnostics").unwrap();
    assert_eq!(columns.len(), documented.columns.len() + 1);
    assert_eq!(columns.last().map(|c| c.name.as_str()), Some("details_s"));
    for name in ["requestUri_s", "httpStatus_d", "details_s", "clientIP_s"] {
        assert_eq!(columns.iter().filter(|c| c.name == name).count(), 1, "{name}");
    }

    // Within the query's hour.
    let at = (chrono::Utc::now() - chrono::Duration::minutes(10)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let device = json!([{"Timestamp": at, "DeviceName": "pc-7", "ActionType": "UsbDriveMounted"}]);
    let (status, body) =
        server.ingest(&dcr, "Custom-Device", Some(&publisher), serde_json::to_vec(&device).unwrap(), false).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let rows = server
        .rows(&reader, "DeviceEvents | project Timestamp, TimeGenerated, DeviceName, same = Timestamp == TimeGenerated")
        .await;
    assert_eq!(rows, vec![json!([at, at, "pc-7", true])]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_are_saved_called_and_refused_with_the_reason() {
    let server = start().await;
    let owner = server.app_token("owner", Role::Owner, MANAGEMENT).await;
    let reader = server.reader_token().await;
    let reader_management = server.access_token(&server.reader, MANAGEMENT).await;
    let ws = &server.workspace;
    let path = format!("/api/workspaces/{ws}/functions/KeeperBy");
    let function = json!({"properties": {
        "query": "KeeperSecurityEventNewLogs_CL | where AuditEvent == event | project Username, AuditEvent",
        "functionParameters": "event:string = 'login'",
        "functionAlias": "KeeperEvents",
        "category": "Keeper", "displayName": "Keeper events by kind"}});
    assert_eq!(
        call(&server, Method::PUT, &path, &reader_management, Some(function.clone())).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, saved) = call(&server, Method::PUT, &path, &owner, Some(function)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["aliases"], json!(["KeeperEvents"]));
    let (status, listed) =
        call(&server, Method::GET, &format!("/api/workspaces/{ws}/functions"), &reader_management, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["value"][0]["name"], "KeeperBy");

    // Callable by name and alias, with and without its argument.
    let (status, publish) =
        (StatusCode::NO_CONTENT, server.access_token(&server.publisher, "https://monitor.azure.com/.default").await);
    let events = common::keeper_events(4);
    assert_eq!(server.ingest(&server.dcr, common::STREAM, Some(&publish), events, false).await.0, status);
    assert_eq!(server.rows(&reader, "KeeperBy('change_master_password') | count").await, vec![json!([2])]);
    assert_eq!(server.rows(&reader, "KeeperEvents | count").await, vec![json!([2])]);
    assert_eq!(server.rows(&reader, "KeeperBy() | count").await, vec![json!([2])]);

    // A parser file as Sentinel's solutions ship them.
    let parser = "id: 1\nFunction:\n  Title: Keeper sign-ins\nFunctionName: KeeperSignIns\nFunctionAlias: KeeperSignIns\n\
                  FunctionQuery: |\n  KeeperSecurityEventNewLogs_CL\n  | where AuditEvent == 'login'\n";
    let response = server
        .client
        .put(format!("{}/api/workspaces/{ws}/functions/KeeperSignIns", server.url))
        .bearer_auth(&owner)
        .header("content-type", "application/yaml")
        .body(parser)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    assert_eq!(server.rows(&reader, "KeeperSignIns | count").await, vec![json!([2])]);

    // Refused: KQL that does not parse, and an alias another function has. Nothing changes.
    let broken = json!({"body": "KeeperSecurityEventNewLogs_CL | where", "parameters": ""});
    let (status, error) =
        call(&server, Method::PUT, &format!("/api/workspaces/{ws}/functions/Broken"), &owner, Some(broken)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "InvalidFunction");
    assert!(error["error"]["message"].as_str().unwrap().contains("line 1, column 38"), "{error}");
    let taken = json!({"body": "print 1", "aliases": ["KeeperEvents"]});
    let (status, error) =
        call(&server, Method::PUT, &format!("/api/workspaces/{ws}/functions/Other"), &owner, Some(taken)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("KeeperEvents"), "{error}");
    for name in ["Broken", "Other"] {
        let (status, _) =
            call(&server, Method::GET, &format!("/api/workspaces/{ws}/functions/{name}"), &owner, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name} was not saved");
    }

    assert_eq!(call(&server, Method::DELETE, &path, &owner, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call(&server, Method::DELETE, &path, &owner, None).await.0, StatusCode::NOT_FOUND);
    let (status, error) = server.query(ws, &reader, "KeeperEvents | count").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["innererror"]["diagnostics"][0]["code"], "KB005", "{error}");
}

fn watchlist(csv: &str, search_key: &str) -> Json {
    json!({"properties": {"displayName": "VIP users", "provider": "SOC", "source": "vips.csv",
                          "itemsSearchKey": search_key, "rawContent": csv, "contentType": "text/csv"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchlists_are_created_read_with_get_watchlist_replaced_and_deleted() {
    let server = start().await;
    let owner = server.app_token("owner", Role::Owner, MANAGEMENT).await;
    let reader = server.reader_token().await;
    let ws = &server.workspace;
    let path = format!("/api/workspaces/{ws}/watchlists/vips");
    let csv = "User,Department,Risk\nalice@example.com,Finance,3\nbob@example.com,IT,5\n";
    let (status, saved) = call(&server, Method::PUT, &path, &owner, Some(watchlist(csv, "User"))).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!((saved["itemCount"].as_u64(), saved["itemsSearchKey"].as_str()), (Some(2), Some("User")));
    let rows = server
        .rows(&reader, "_GetWatchlist('vips') | project SearchKey, User, Department, Risk | sort by SearchKey asc")
        .await;
    assert_eq!(
        rows,
        vec![
            json!(["alice@example.com", "alice@example.com", "Finance", "3"]),
            json!(["bob@example.com", "bob@example.com", "IT", "5"])
        ]
    );

    // Replacing the CSV: bob changes, alice goes, carol comes; the Watchlist table keeps history.
    let replaced = "User,Department,Risk\nbob@example.com,Security,5\ncarol@example.com,HR,1\n";
    assert_eq!(call(&server, Method::PUT, &path, &owner, Some(watchlist(replaced, "User"))).await.0, StatusCode::OK);
    let rows =
        server.rows(&reader, "_GetWatchlist('vips') | project SearchKey, Department | sort by SearchKey asc").await;
    assert_eq!(rows, vec![json!(["bob@example.com", "Security"]), json!(["carol@example.com", "HR"])]);
    let history = server
        .rows(&reader, "Watchlist | where WatchlistAlias == 'vips' | summarize count() by _DTItemStatus | sort by _DTItemStatus asc")
        .await;
    assert_eq!(history, vec![json!(["Create", 3]), json!(["Delete", 1]), json!(["Update", 1])]);

    // Refused with the field at fault; the watchlist stays as it was.
    let (status, error) = call(&server, Method::PUT, &path, &owner, Some(watchlist(replaced, "Email"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["innererror"]["field"], "properties.itemsSearchKey", "{error}");
    let ragged = "User,Department\nbob@example.com,IT,extra\n";
    let (status, error) = call(&server, Method::PUT, &path, &owner, Some(watchlist(ragged, "User"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("line 2"), "{error}");
    let too_big = format!("User\n{}", "x@example.com\n".repeat(vigil_control::MAX_CSV_BYTES / 14 + 1));
    let (status, _) = call(&server, Method::PUT, &path, &owner, Some(watchlist(&too_big, "User"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a CSV over Sentinel's 3.8 MB is refused");
    let beyond_body = "x".repeat(vigil_server::definitions::WATCHLIST_BODY_LIMIT + 1);
    let (status, _) = call(&server, Method::PUT, &path, &owner, Some(watchlist(&beyond_body, "User"))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, items) = call(&server, Method::GET, &format!("{path}/items"), &owner, None).await;
    assert_eq!(items["value"].as_array().unwrap().len(), 2, "{items}");

    let reader_management = server.access_token(&server.reader, MANAGEMENT).await;
    assert_eq!(call(&server, Method::DELETE, &path, &reader_management, None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(call(&server, Method::DELETE, &path, &owner, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(server.rows(&reader, "_GetWatchlist('vips') | count").await, vec![json!([0])]);
    assert_eq!(call(&server, Method::GET, &path, &owner, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_import_installs_a_solution_or_nothing() {
    let server = start().await;
    let owner = server.app_token("owner", Role::Owner, MANAGEMENT).await;
    let ws = &server.workspace;
    let path = format!("/api/workspaces/{ws}/content/import");
    let parser = "FunctionName: KeeperChanges\nFunctionAlias: KeeperChanges\nFunctionQuery: |\n  \
                  KeeperSecurityEventNewLogs_CL\n  | where Category == 'security'\n";
    let rule = "id: 6f0a3c0e-1b7e-4f0c-9c55-0d8a3f1c2b11\nname: Keeper security change\nkind: Scheduled\n\
                severity: Low\nqueryFrequency: 5m\nqueryPeriod: 1h\ntriggerOperator: gt\ntriggerThreshold: 0\n\
                tactics: [Persistence]\nrelevantTechniques: [T1098]\nquery: |\n  KeeperChanges\n  | project Username, RemoteAddress\n\
                entityMappings:\n  - entityType: Account\n    fieldMappings:\n      - identifier: FullName\n        columnName: Username\n";
    let workbook =
        json!({"version": "Notebook/1.0", "items": [{"type": 1, "content": {"json": "# Changes"}}]}).to_string();
    let files = |rule: &str| {
        json!({"files": [
            {"path": "Solutions/KeeperPlus/Parsers/KeeperChanges.yaml", "text": parser},
            {"path": "Solutions/KeeperPlus/Analytic Rules/KeeperChange.yaml", "text": rule},
            {"path": "Solutions/KeeperPlus/Workbooks/KeeperChanges.json", "text": workbook},
        ]})
    };
    let reader_management = server.access_token(&server.reader, MANAGEMENT).await;
    assert_eq!(
        call(&server, Method::POST, &path, &reader_management, Some(files(rule))).await.0,
        StatusCode::FORBIDDEN
    );

    // A file that is not YAML: the file, the field and the reason; nothing is written.
    let unreadable = rule.replace("tactics: [Persistence]", "tactics: [Persistence");
    let (status, error) = call(&server, Method::POST, &path, &owner, Some(files(&unreadable))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let errors = &error["error"]["innererror"]["errors"];
    assert_eq!(errors[0]["file"], "Solutions/KeeperPlus/Analytic Rules/KeeperChange.yaml", "{error}");
    assert!(errors[0]["message"].as_str().unwrap().contains("is not valid YAML at line"), "{error}");
    // A rule with a field Sentinel would refuse: skipped with the field and the reason, the
    // rest installed; a strict import of it installs nothing.
    let broken = rule.replace("queryFrequency: 5m", "queryFrequency: often");
    let mut strict = files(&broken);
    strict["strict"] = json!(true);
    let (status, error) = call(&server, Method::POST, &path, &owner, Some(strict)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let skipped = &error["error"]["innererror"]["lines"][0];
    assert_eq!(
        (skipped["status"].as_str(), skipped["file"].as_str()),
        (Some("skipped"), Some("Solutions/KeeperPlus/Analytic Rules/KeeperChange.yaml")),
        "{error}"
    );
    assert!(skipped["detail"].as_str().unwrap().starts_with("queryFrequency: 'often'"), "{error}");
    let (_, functions) = call(&server, Method::GET, &format!("/api/workspaces/{ws}/functions"), &owner, None).await;
    assert_eq!(functions["value"], json!([]), "a failed import writes nothing");
    let (_, workbooks) = call(&server, Method::GET, &format!("/api/workspaces/{ws}/workbooks"), &owner, None).await;
    assert_eq!(workbooks, json!([]));
    let (status, report) = call(&server, Method::POST, &path, &owner, Some(files(&broken))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["lines"][0]["status"], "skipped", "{report}");

    let (status, report) = call(&server, Method::POST, &path, &owner, Some(files(rule))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let installed: Vec<(String, String)> = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["status"] == "installed")
        .map(|l| (l["kind"].as_str().unwrap().to_string(), l["name"].as_str().unwrap().to_string()))
        .collect();
    for expected in [("function", "KeeperChanges"), ("rule", "Keeper security change"), ("workbook", "KeeperChanges")] {
        assert!(installed.iter().any(|(k, n)| (k.as_str(), n.as_str()) == expected), "{expected:?} in {report}");
    }
    let (_, rules) = call(&server, Method::GET, &format!("/api/workspaces/{ws}/rules"), &owner, None).await;
    assert!(rules.to_string().contains("Keeper security change"), "{rules}");

    let (status, _) = server
        .client
        .post(format!("{}{path}", server.url))
        .bearer_auth(&owner)
        .header("content-type", "application/json")
        .body(vec![b' '; vigil_server::definitions::IMPORT_BODY_LIMIT + 1])
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_rule_runs_on_demand_over_its_period_without_moving_its_schedule() {
    let server = start().await;
    let owner = server.app_token("owner", Role::Owner, MANAGEMENT).await;
    let ws = &server.workspace;
    let rule = "id: 0b6f5a53-8c65-4f0b-9d0e-3b1c1f9e7a10\nname: Master password changes\nkind: Scheduled\n\
                severity: Medium\nqueryFrequency: 1d\nqueryPeriod: 1d\ntriggerOperator: gt\ntriggerThreshold: 0\n\
                query: |\n  KeeperSecurityEventNewLogs_CL\n  | where AuditEvent == 'change_master_password'\n\
                eventGroupingSettings:\n  aggregationKind: AlertPerResult\n";
    let nrt = "id: 5d1f0c1e-7d9a-4c59-a7b4-2c8e4f1b6a21\nname: Instant\nkind: NRT\nseverity: Low\n\
               query: KeeperSecurityEventNewLogs_CL\n";
    let files = json!({"files": [{"path": "Analytic Rules/changes.yaml", "text": rule}, {"path": "Analytic Rules/nrt.yaml", "text": nrt}]});
    let (status, report) =
        call(&server, Method::POST, &format!("/api/workspaces/{ws}/content/import"), &owner, Some(files)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let publish = server.access_token(&server.publisher, "https://monitor.azure.com/.default").await;
    let (status, _) = server.ingest(&server.dcr, common::STREAM, Some(&publish), common::keeper_events(6), false).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let path = format!("/api/workspaces/{ws}/rules/0b6f5a53-8c65-4f0b-9d0e-3b1c1f9e7a10");
    let (_, before) = call(&server, Method::GET, &path, &owner, None).await;
    let reader = server.access_token(&server.reader, MANAGEMENT).await;
    let trigger = format!("{path}/triggerRuleRun");
    assert_eq!(call(&server, Method::POST, &trigger, &reader, Some(json!({}))).await.0, StatusCode::FORBIDDEN);
    let future = json!({"properties": {"executionTimeUtc": "2999-01-01T00:00:00Z"}});
    assert_eq!(call(&server, Method::POST, &trigger, &owner, Some(future)).await.0, StatusCode::BAD_REQUEST);
    let (status, run) = call(&server, Method::POST, &trigger, &owner, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["alerts"], 3, "one alert per master password change: {run}");
    let defender = server.app_token("soc", Role::Reader, "https://api.security.microsoft.com/.default").await;
    let (_, alerts) = call(&server, Method::GET, "/api/alerts", &defender, None).await;
    let titles: Vec<&str> = alerts["value"].as_array().unwrap().iter().filter_map(|a| a["title"].as_str()).collect();
    assert_eq!(titles.iter().filter(|t| **t == "Master password changes").count(), 3, "{alerts}");
    let (_, after) = call(&server, Method::GET, &path, &owner, None).await;
    assert_eq!(before["watermark"], after["watermark"], "the schedule did not move: {before} {after}");
    assert_eq!(after["runs"].as_i64(), before["runs"].as_i64().map(|n| n + 1), "the run is counted: {after}");

    let nrt_trigger = format!("/api/workspaces/{ws}/rules/5d1f0c1e-7d9a-4c59-a7b4-2c8e4f1b6a21/triggerRuleRun");
    let (status, error) = call(&server, Method::POST, &nrt_trigger, &owner, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("near-real-time"), "{error}");
}
