//! Detection against a real store and a real detection database: late data and ingestion-time
//! windows, NRT exactly once across restarts, incident grouping by each matching method,
//! suppression rules, automation and playbook failures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{StringArray, TimestampNanosecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use vigil_detect::alert::build_alerts;
use vigil_detect::automation::parse_automation;
use vigil_detect::conditions::{Condition, Operator};
use vigil_detect::scheduler::{SchedulerMetrics, next_window};
use vigil_detect::state::{IncidentChange, Page, RuleRecord};
use vigil_detect::suppression::NewSuppression;
use vigil_detect::time::now_nanos;
use vigil_detect::{Deliverer, Detection, Scheduler, Scope, parse_rule, validate_query};
use vigil_kql::{Engine, MemoryCatalog};
use vigil_kql_functions::{KqlColumn, KqlType, Value};
use vigil_shares::Shares;
use vigil_store::{Store, StoreConfig};

const TENANT: &str = "tenant-1";
const WORKSPACE: &str = "ws1";
const MINUTE: i64 = 60_000_000_000;

fn columns() -> Vec<KqlColumn> {
    vec![
        KqlColumn::new("TimeGenerated", KqlType::DateTime),
        KqlColumn::new("Event", KqlType::String),
        KqlColumn::new("User", KqlType::String),
        KqlColumn::new("Ip", KqlType::String),
    ]
}

/// Events as `(minutes before now, event, user, ip)`.
fn batch(events: &[(i64, &str, &str, &str)]) -> RecordBatch {
    let now = now_nanos();
    let schema = vigil_kql_functions::types::arrow_schema(&columns());
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampNanosecondArray::from(events.iter().map(|e| now - e.0 * MINUTE).collect::<Vec<_>>())),
            Arc::new(StringArray::from(events.iter().map(|e| e.1).collect::<Vec<_>>())),
            Arc::new(StringArray::from(events.iter().map(|e| e.2).collect::<Vec<_>>())),
            Arc::new(StringArray::from(events.iter().map(|e| e.3).collect::<Vec<_>>())),
        ],
    )
    .expect("batch")
}

fn rule_yaml(kind: &str, extra: &str) -> String {
    format!(
        "id: rule-{kind}\nname: Bad events ({kind})\ndescription: test\nseverity: Medium\nkind: {kind}\n\
         queryFrequency: PT5M\nqueryPeriod: PT5M\nquery: |\n  Events\n  | where Event == \"bad\"\n\
         tactics: [CredentialAccess]\nrelevantTechniques: [T1110]\n\
         eventGroupingSettings:\n  aggregationKind: AlertPerResult\n\
         alertDetailsOverride:\n  alertDisplayNameFormat: \"bad event by {{{{User}}}}\"\n\
         entityMappings:\n- entityType: Account\n  fieldMappings:\n  - identifier: FullName\n    columnName: User\n\
         - entityType: IP\n  fieldMappings:\n  - identifier: Address\n    columnName: Ip\n{extra}"
    )
}

struct Fixture {
    dir: PathBuf,
    store: Arc<Store>,
    detection: Arc<Detection>,
    scheduler: Arc<Scheduler>,
}

/// One key for every opening of a test's data dir, as a server's key file is.
fn seal() -> vigil_seal::SealKey {
    vigil_seal::SealKey::from_text("dGhlIHRlc3RzJyBzZWNyZXRzIGtleSwgMzIgYnl0ZXM=").unwrap()
}

async fn open(dir: &Path) -> Fixture {
    let config = StoreConfig { data_dir: dir.to_path_buf(), ..StoreConfig::default() };
    let store = Store::open(config).await.expect("store");
    store.define_table(WORKSPACE, "Events", &columns(), None).await.expect("table");
    let detection = Detection::open(&dir.join("detection.db"), seal()).await.expect("detection db");
    let engine = Engine::new();
    store.register_object_store(engine.session());
    let definitions = Arc::new(vigil_catalog::Definitions { workspace_id: WORKSPACE.into(), ..Default::default() });
    let scheduler = Scheduler::new(
        detection.clone(),
        store.clone(),
        definitions,
        engine,
        Shares::new(2, 1),
        SchedulerMetrics::default(),
    );
    Fixture { dir: dir.to_path_buf(), store, detection, scheduler }
}

impl Fixture {
    async fn put_rule(&self, text: &str) -> RuleRecord {
        let rule = parse_rule("test", text).expect("valid rule");
        self.detection.put_rule(TENANT, WORKSPACE, &rule, text, Some(true)).await.expect("saved")
    }

    async fn alerts(&self) -> Vec<vigil_detect::state::AlertRecord> {
        let page = Page { filter: None, order_by: None, top: 10_000, skip: 0 };
        self.detection.alerts(&Scope::tenant(TENANT, None), &page).await.expect("alerts")
    }

    async fn incidents(&self) -> Vec<vigil_detect::state::IncidentRecord> {
        let page = Page { filter: None, order_by: None, top: 10_000, skip: 0 };
        self.detection.incidents(&Scope::tenant(TENANT, None), &page).await.expect("incidents")
    }

    async fn close(self) -> PathBuf {
        self.store.close().await.expect("store closes");
        self.detection.close().await;
        self.dir
    }
}

/// The users of the alerts' evidence rows, sorted.
fn alerted_users(alerts: &[vigil_detect::state::AlertRecord]) -> Vec<String> {
    let mut users: Vec<String> = alerts
        .iter()
        .flat_map(|a| a.evidence.as_array().cloned().unwrap_or_default())
        .map(|row| row["User"].as_str().unwrap_or_default().to_string())
        .collect();
    users.sort();
    users
}

#[tokio::test(flavor = "multi_thread")]
async fn late_events_straddling_two_runs_of_a_scheduled_rule_alert_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = open(dir.path()).await;
    let record = fixture.put_rule(&rule_yaml("Scheduled", "")).await;
    let start = fixture.store.received_horizon();
    // On time: happened a minute ago, arrives now.
    fixture
        .store
        .append(WORKSPACE, "Events", batch(&[(1, "bad", "ana", "10.0.0.1"), (1, "ok", "bo", "10.0.0.2")]))
        .await
        .unwrap();
    let first_end = fixture.store.received_horizon();
    // Late: happened 4 minutes ago, inside the first run's period, but arrives after that run.
    let first = fixture.scheduler.run_window(&record, start, first_end).await.expect("first run");
    fixture
        .store
        .append(WORKSPACE, "Events", batch(&[(4, "bad", "cy", "10.0.0.3"), (12, "bad", "di", "10.0.0.4")]))
        .await
        .unwrap();
    let second_end = fixture.store.received_horizon();
    let record = fixture.detection.rule(WORKSPACE, &record.rule.id).await.unwrap().expect("rule");
    assert_eq!(record.watermark, Some(first_end), "the run committed its window's end");
    let second = fixture.scheduler.run_window(&record, first_end, second_end).await.expect("second run");
    assert_eq!((first.alerts, second.alerts), (1, 2));
    assert_eq!(alerted_users(&fixture.alerts().await), vec!["ana", "cy", "di"], "every bad event exactly once");
    // The same windows computed by the scheduler tile ingestion time with no gap or overlap.
    let record = fixture.detection.rule(WORKSPACE, &record.rule.id).await.unwrap().expect("rule");
    let (after, until) = next_window(&record, second_end + 10 * MINUTE).expect("a window is due");
    assert_eq!((after, until), (second_end, second_end + 5 * MINUTE));
    assert_eq!(next_window(&record, second_end + 4 * MINUTE), None, "not before the window has passed");
    fixture.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nrt_rules_alert_on_each_event_once_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = open(dir.path()).await;
    fixture.put_rule(&rule_yaml("NRT", "")).await;
    let (shutdown, receiver) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(fixture.scheduler.clone().run(receiver));
    fixture
        .store
        .append(WORKSPACE, "Events", batch(&[(0, "bad", "ana", "10.0.0.1"), (0, "ok", "bo", "10.0.0.2")]))
        .await
        .unwrap();
    fixture.store.append(WORKSPACE, "Events", batch(&[(0, "bad", "cy", "10.0.0.3")])).await.unwrap();
    wait_for(|| async { fixture.alerts().await.len() == 2 }).await;
    shutdown.send_replace(true);
    running.await.unwrap();
    let dir = fixture.close().await;

    let fixture = open(&dir).await;
    let (shutdown, receiver) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(fixture.scheduler.clone().run(receiver));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(alerted_users(&fixture.alerts().await), vec!["ana", "cy"], "nothing alerts twice after a restart");
    fixture.store.append(WORKSPACE, "Events", batch(&[(0, "bad", "di", "10.0.0.4")])).await.unwrap();
    wait_for(|| async { fixture.alerts().await.len() == 3 }).await;
    assert_eq!(alerted_users(&fixture.alerts().await), vec!["ana", "cy", "di"]);
    assert_eq!(fixture.incidents().await.len(), 3, "an incident per alert when grouping is off");
    shutdown.send_replace(true);
    running.await.unwrap();
    fixture.close().await;
}

async fn wait_for<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the condition did not hold within 10 s");
}

/// Raises one alert per `(user, ip, title-suffix)` through the rule, as a run would.
async fn raise(fixture: &Fixture, record: &RuleRecord, events: &[(&str, &str)]) {
    let rows: Vec<Vec<Value>> = events
        .iter()
        .map(|(user, ip)| {
            vec![
                Value::DateTime(now_nanos()),
                Value::String("bad".into()),
                Value::String((*user).into()),
                Value::String((*ip).into()),
            ]
        })
        .collect();
    let drafts = build_alerts(&record.rule, &columns(), &rows);
    let record = fixture.detection.rule(WORKSPACE, &record.rule.id).await.unwrap().expect("rule");
    fixture.detection.record_run(&record, Some(now_nanos()), rows.len(), 0.0, drafts).await.expect("run recorded");
}

/// Each incident's alerts as `user@ip`, incidents oldest first.
async fn grouping(fixture: &Fixture) -> Vec<Vec<String>> {
    let mut incidents = fixture.incidents().await;
    incidents.sort_by_key(|i| i.id);
    incidents
        .iter()
        .map(|i| {
            i.alerts
                .iter()
                .map(|a| {
                    let row = &a.evidence[0];
                    format!("{}@{}", row["User"].as_str().unwrap_or_default(), row["Ip"].as_str().unwrap_or_default())
                })
                .collect()
        })
        .collect()
}

fn grouping_yaml(kind: &str, configuration: &str) -> String {
    rule_yaml(
        kind,
        &format!(
            "incidentConfiguration:\n  createIncident: true\n  groupingConfiguration:\n    enabled: true\n    \
             lookbackDuration: PT1H\n{configuration}"
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn incidents_group_alerts_by_each_matching_method() {
    let cases: [(&str, &str, Vec<Vec<&str>>); 5] = [
        (
            "AllEntities",
            "    matchingMethod: AllEntities\n",
            vec![vec!["ana@10.0.0.1", "ana@10.0.0.1"], vec!["ana@10.0.0.2"], vec!["bo@10.0.0.1"]],
        ),
        (
            "AnyAlert",
            "    matchingMethod: AnyAlert\n",
            vec![vec!["ana@10.0.0.1", "ana@10.0.0.1", "ana@10.0.0.2", "bo@10.0.0.1"]],
        ),
        (
            "SelectedIp",
            "    matchingMethod: Selected\n    groupByEntities: [IP]\n",
            vec![vec!["ana@10.0.0.1", "ana@10.0.0.1", "bo@10.0.0.1"], vec!["ana@10.0.0.2"]],
        ),
        (
            "SelectedAccount",
            "    matchingMethod: Selected\n    groupByEntities: [Account]\n",
            vec![vec!["ana@10.0.0.1", "ana@10.0.0.1", "ana@10.0.0.2"], vec!["bo@10.0.0.1"]],
        ),
        (
            "SelectedTitle",
            "    matchingMethod: Selected\n    groupByAlertDetails: [DisplayName]\n",
            vec![vec!["ana@10.0.0.1", "ana@10.0.0.1", "ana@10.0.0.2"], vec!["bo@10.0.0.1"]],
        ),
    ];
    for (name, configuration, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixture = open(dir.path()).await;
        let record = fixture.put_rule(&grouping_yaml("NRT", configuration)).await;
        for event in [("ana", "10.0.0.1"), ("ana", "10.0.0.1"), ("ana", "10.0.0.2"), ("bo", "10.0.0.1")] {
            raise(&fixture, &record, &[event]).await;
        }
        assert_eq!(grouping(&fixture).await, expected, "{name}");
        fixture.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_incidents_reopen_only_when_the_rule_says_so_and_lookback_ends_grouping() {
    for reopen in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixture = open(dir.path()).await;
        let configuration = format!("    matchingMethod: AnyAlert\n    reopenClosedIncident: {reopen}\n");
        let record = fixture.put_rule(&grouping_yaml("NRT", &configuration)).await;
        raise(&fixture, &record, &[("ana", "10.0.0.1")]).await;
        let first = fixture.incidents().await[0].id;
        let close = IncidentChange {
            status: Some("Closed".into()),
            classification: Some("TruePositive".into()),
            ..Default::default()
        };
        fixture.detection.update_incident(first, &close, "analyst@example.com").await.unwrap();
        raise(&fixture, &record, &[("bo", "10.0.0.2")]).await;
        let incidents = fixture.incidents().await;
        if reopen {
            assert_eq!(incidents.len(), 1);
            let incident = fixture.detection.incident(&Scope::tenant(TENANT, None), first).await.unwrap().unwrap();
            assert_eq!(incident.status, "Active");
            assert!(incident.history.iter().any(|h| h.action == "Reopened"));
            assert!(incident.history.iter().any(|h| h.action == "StatusChanged" && h.actor == "analyst@example.com"));
        } else {
            assert_eq!(incidents.len(), 2, "a closed incident is left closed");
        }
        fixture.close().await;
    }
    // Past the lookback, alerts open a new incident.
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = open(dir.path()).await;
    let text = grouping_yaml("NRT", "    matchingMethod: AnyAlert\n")
        .replace("lookbackDuration: PT1H", "lookbackDuration: PT1S");
    let record = fixture.put_rule(&text).await;
    raise(&fixture, &record, &[("ana", "10.0.0.1")]).await;
    raise(&fixture, &record, &[("ana", "10.0.0.1")]).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    raise(&fixture, &record, &[("ana", "10.0.0.1")]).await;
    assert_eq!(grouping(&fixture).await.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1]);
    fixture.close().await;
}

fn condition(property: &str, operator: Operator, value: &str) -> Condition {
    Condition { property: property.into(), operator, values: vec![value.into()] }
}

#[tokio::test(flavor = "multi_thread")]
async fn suppression_rules_silence_matching_alerts_with_who_and_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = open(dir.path()).await;
    let record = fixture.put_rule(&rule_yaml("NRT", "")).await;
    let scanner = NewSuppression {
        name: "vulnerability scanner".into(),
        reason: "weekly authorised scan from 10.9.9.9".into(),
        duration: Some("PT1H".into()),
        conditions: vec![
            condition("IPAddress", Operator::Equals, "10.9.9.9"),
            condition("AnalyticRuleName", Operator::StartsWith, "Bad events"),
        ],
    };
    let kept = fixture.detection.add_suppression(WORKSPACE, &scanner, "ana@example.com").await.unwrap();
    let by_detail = NewSuppression {
        name: "service account".into(),
        reason: "svc-backup is expected".into(),
        duration: None,
        conditions: vec![condition("Detail.User", Operator::Equals, "svc-backup")],
    };
    fixture.detection.add_suppression(WORKSPACE, &by_detail, "bo@example.com").await.unwrap();
    let expired = NewSuppression {
        name: "expired".into(),
        reason: "was for yesterday".into(),
        duration: Some("PT0.5S".into()),
        conditions: vec![condition("IPAddress", Operator::Equals, "10.0.0.1")],
    };
    fixture.detection.add_suppression(WORKSPACE, &expired, "cy@example.com").await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;

    raise(&fixture, &record, &[("ana", "10.9.9.9"), ("svc-backup", "10.0.0.5"), ("ana", "10.0.0.1")]).await;
    let alerts = fixture.alerts().await;
    let by_user = |user: &str, ip: &str| {
        alerts
            .iter()
            .find(|a| a.evidence[0]["User"] == user && a.evidence[0]["Ip"] == ip)
            .cloned()
            .expect("alert recorded")
    };
    let silenced = by_user("ana", "10.9.9.9");
    assert_eq!((silenced.status.as_str(), silenced.suppressed_by.as_deref()), ("Resolved", Some(kept.id.as_str())));
    assert_eq!(silenced.incident_id, None, "no incident for a silenced alert");
    assert!(by_user("svc-backup", "10.0.0.5").suppressed_by.is_some());
    let live = by_user("ana", "10.0.0.1");
    assert_eq!((live.status.as_str(), live.suppressed_by.as_deref()), ("New", None), "expired suppression");
    assert!(live.incident_id.is_some());
    let rules = fixture.detection.suppressions(WORKSPACE).await.unwrap();
    let scanner = rules.iter().find(|r| r.id == kept.id).unwrap();
    assert_eq!((scanner.hits, scanner.created_by.as_str()), (1, "ana@example.com"));
    assert_eq!(scanner.reason, "weekly authorised scan from 10.9.9.9");
    assert!(scanner.expires_at.is_some());
    fixture.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn automation_acts_in_order_and_failed_playbooks_show_on_the_incident() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = open(dir.path()).await;
    let record = fixture.put_rule(&rule_yaml("NRT", "")).await;
    // Nothing listens on this port: every delivery fails.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let document = format!(
        "playbooks:\n  - {{name: hook, kind: webhook, url: \"http://127.0.0.1:{closed_port}/x\", secret: s}}\n\
         automationRules:\n  - name: triage\n    order: 1\n    triggersOn: Incidents\n    triggersWhen: Created\n\
         \x20   conditions: [{{property: IPAddress, operator: StartsWith, values: [\"10.0.\"]}}]\n\
         \x20   actions: [{{assignOwner: tier1@example.com}}, {{changeStatus: {{status: Active}}}}, {{addLabels: [triaged]}}, {{runPlaybook: hook}}]\n\
         \x20 - name: escalate\n    order: 2\n    triggersOn: Incidents\n    triggersWhen: Created\n\
         \x20   conditions: [{{property: Owner, operator: Equals, values: [tier1@example.com]}}, {{property: AccountName, operator: Equals, values: [ana]}}]\n\
         \x20   actions: [{{changeSeverity: High}}]\n"
    );
    let document = parse_automation(&document, &[]).expect("valid automation");
    for playbook in &document.playbooks {
        fixture.detection.put_playbook(WORKSPACE, playbook).await.unwrap();
    }
    for rule in &document.automation_rules {
        fixture.detection.put_automation_rule(WORKSPACE, rule).await.unwrap();
    }
    raise(&fixture, &record, &[("ana", "10.0.0.1"), ("bo", "192.168.1.1")]).await;
    let mut incidents = fixture.incidents().await;
    incidents.sort_by_key(|i| i.id);
    let (matched, other) = (&incidents[0], &incidents[1]);
    assert_eq!(matched.owner.as_deref(), Some("tier1@example.com"));
    assert_eq!((matched.status.as_str(), matched.severity.as_str()), ("Active", "High"), "rule 2 saw rule 1's owner");
    assert_eq!(matched.labels, vec!["triaged"]);
    assert_eq!((other.owner.as_deref(), other.status.as_str(), other.severity.as_str()), (None, "New", "Medium"));

    let deliverer = Deliverer::new(fixture.detection.clone(), "https://vigil.example", loopback());
    deliverer.deliver_due().await.expect("delivery pass");
    let incident = fixture.detection.incident(&Scope::tenant(TENANT, None), matched.id).await.unwrap().unwrap();
    assert_eq!(incident.deliveries.len(), 1);
    assert_eq!(
        (incident.deliveries[0].status.as_str(), incident.deliveries[0].attempts),
        ("Pending", 1),
        "retried later"
    );
    assert!(incident.deliveries[0].last_error.as_deref().is_some_and(|e| e.contains("request failed")));
    let failure = incident.history.iter().find(|h| h.action == "PlaybookFailed").expect("failure in the history");
    assert!(failure.detail.contains("playbook 'hook' attempt 1 failed, will retry"), "{}", failure.detail);
    assert!(incident.history.iter().any(|h| h.action == "OwnerChanged" && h.actor == "Automation rule 'triage'"));
    fixture.close().await;
}

/// The upstream Keeper Security rules, as the solution ships them, import unchanged.
#[test]
fn the_upstream_keeper_rules_import_as_they_are() {
    let conformance = std::env::var("VIGIL_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"));
    let keeper = conformance.join("sentinel/keeper-security");
    let table = std::fs::read_to_string(keeper.join("KepperSecurity_table.json")).expect("table JSON");
    let mut catalog = MemoryCatalog::new();
    catalog.add_schema(&vigil_catalog::parse_table_json(&table).expect("table parses"));
    let engine = Engine::new();
    for file in ["Keeper Security - Alternate Master Password.yaml", "Keeper Security - User MFA Changed.yaml"] {
        let text = std::fs::read_to_string(keeper.join(file)).expect("rule file");
        let rule = parse_rule(file, &text).unwrap_or_else(|e| panic!("{e}"));
        let validated = validate_query(&engine, &rule, &catalog, file).unwrap_or_else(|e| panic!("{e}"));
        assert!(validated.columns.iter().any(|c| c.name == "RemoteAddress"));
        assert!(validated.warnings.is_empty(), "{:?}", validated.warnings);
        assert_eq!(rule.kind, vigil_detect::RuleKind::Nrt);
    }
}

/// A rule whose query names a missing column is refused with the field and the reason; one that
/// maps a column its results lack is accepted, as Sentinel accepts it, with a warning naming it.
#[test]
fn rules_that_do_not_fit_the_workspace_are_refused_with_the_field() {
    let mut catalog = MemoryCatalog::new();
    catalog.add_batches("Events", columns(), vec![]).unwrap();
    let engine = Engine::new();
    let unknown_column = rule_yaml("NRT", "").replace("where Event ==", "where Evnt ==");
    let rule = parse_rule("r", &unknown_column).unwrap();
    let error = validate_query(&engine, &rule, &catalog, "r.yaml").unwrap_err();
    assert_eq!(error.problems[0].field, "query");
    assert!(error.problems[0].message.contains("Evnt"), "{}", error.problems[0].message);
    let unmapped = rule_yaml("NRT", "").replace("| where Event == \"bad\"", "| project Event, User");
    let rule = parse_rule("r", &unmapped).unwrap();
    let warnings = validate_query(&engine, &rule, &catalog, "r.yaml").expect("accepted").warnings;
    assert_eq!(warnings[0].field, "entityMappings[1].fieldMappings[0].columnName");
    assert!(warnings[0].message.contains("'Ip' is not in the query's results"), "{}", warnings[0].message);
    // Columns are found regardless of case.
    let cased = rule_yaml("NRT", "").replace("| where Event == \"bad\"", "| project Event, User, IP = Ip");
    let rule = parse_rule("r", &cased).unwrap();
    assert!(validate_query(&engine, &rule, &catalog, "r.yaml").expect("accepted").warnings.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_level_suppression_stops_runs_after_an_alert_for_its_duration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = open(dir.path()).await;
    let record = fixture.put_rule(&rule_yaml("NRT", "suppressionEnabled: true\nsuppressionDuration: PT1H\n")).await;
    let start = fixture.store.received_horizon();
    fixture.store.append(WORKSPACE, "Events", batch(&[(0, "bad", "ana", "10.0.0.1")])).await.unwrap();
    let first_end = fixture.store.received_horizon();
    assert_eq!(fixture.scheduler.run_window(&record, start, first_end).await.unwrap().alerts, 1);
    fixture.store.append(WORKSPACE, "Events", batch(&[(0, "bad", "bo", "10.0.0.2")])).await.unwrap();
    let second_end = fixture.store.received_horizon();
    let record = fixture.detection.rule(WORKSPACE, &record.rule.id).await.unwrap().expect("rule");
    assert!(record.suppressed_until.is_some_and(|until| until > second_end));
    assert_eq!(fixture.scheduler.run_window(&record, first_end, second_end).await.unwrap().alerts, 0, "suppressed");
    let record = fixture.detection.rule(WORKSPACE, &record.rule.id).await.unwrap().expect("rule");
    assert_eq!(record.watermark, Some(second_end), "a suppressed run still moves on");
    assert_eq!(alerted_users(&fixture.alerts().await), vec!["ana"]);
    fixture.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_runs_missed_during_downtime_are_caught_up_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = open(dir.path()).await;
    let record = fixture.put_rule(&rule_yaml("Scheduled", "")).await;
    // As if the server had stopped 22 minutes ago, right after a run.
    let stopped = now_nanos() - 22 * MINUTE;
    fixture.detection.record_run(&record, Some(stopped), 0, 0.0, Vec::new()).await.unwrap();
    let (shutdown, receiver) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(fixture.scheduler.clone().run(receiver));
    wait_for(|| async {
        let record = fixture.detection.rule(WORKSPACE, &record.rule.id).await.unwrap().unwrap();
        record.watermark == Some(stopped + 20 * MINUTE)
    })
    .await;
    shutdown.send_replace(true);
    running.await.unwrap();
    let record = fixture.detection.rule(WORKSPACE, &record.rule.id).await.unwrap().unwrap();
    assert_eq!(record.runs, 1 + 4, "four missed five-minute windows, no more: the fifth has not ended");
    fixture.close().await;
}

/// Receives HTTP requests and answers 200, keeping each body.
async fn receiver() -> (String, Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>) {
    receiver_answering(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await
}

/// Receives HTTP requests and gives each the same `answer`, keeping each request.
async fn receiver_answering(answer: &'static [u8]) -> (String, Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut data = Vec::new();
            let mut chunk = [0u8; 4096];
            let (headers, body) = loop {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                data.extend_from_slice(&chunk[..n]);
                let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                let headers = String::from_utf8_lossy(&data[..end]).to_string();
                let length: usize = headers
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if data.len() >= end + 4 + length {
                    break (headers, data[end + 4..end + 4 + length].to_vec());
                }
            };
            store.lock().unwrap().push((headers, body));
            let _ = socket.write_all(answer).await;
        }
    });
    (url, received)
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_teams_and_slack_messages_have_their_shapes() {
    use vigil_detect::automation::{Playbook, PlaybookTarget};
    let (url, received) = receiver().await;
    let payload = serde_json::json!({"event": "IncidentCreated", "incident": {"incidentId": 3, "incidentName": "change_master_password on 10.0.0.1",
        "severity": "High", "status": "Active", "alerts": [{"entities": [{"entityType": "Ip", "ipAddress": "10.0.0.1"}], "mitreTechniques": ["T1556"]}]}});
    for target in [
        PlaybookTarget::Webhook { url: format!("{url}/hook"), secret: Some("s3cret".into()) },
        PlaybookTarget::Teams { url: format!("{url}/teams") },
        PlaybookTarget::Slack { url: format!("{url}/slack") },
    ] {
        let playbook = Playbook { name: "p".into(), target };
        vigil_detect::delivery::send(&loopback(), &playbook, &payload).await.expect("delivered");
    }
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    let body = |i: usize| serde_json::from_slice::<serde_json::Value>(&received[i].1).unwrap();
    let signature = vigil_detect::delivery::sign("s3cret", &received[0].1);
    assert!(
        received[0].0.to_ascii_lowercase().contains(&format!("x-vigil-signature: {signature}")),
        "{}",
        received[0].0
    );
    assert_eq!(body(0)["incident"]["incidentId"], 3);
    let card = body(1);
    assert_eq!((card["@type"].as_str(), card["themeColor"].as_str()), (Some("MessageCard"), Some("D13438")));
    assert_eq!(card["title"], "Incident #3: change_master_password on 10.0.0.1");
    assert!(card["sections"][0]["facts"].as_array().unwrap().iter().any(|f| f["value"] == "T1556"));
    let slack = body(2);
    assert_eq!(slack["text"], "Incident #3: change_master_password on 10.0.0.1");
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert!(
        slack["blocks"][1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["text"].as_str().unwrap().contains("Ip: 10.0.0.1"))
    );
}

/// A receiver that redirects gets the one request it was sent, and the delivery fails: the
/// redirect's target (here another path of the receiver; inside the network in an attack) is
/// never called.
#[tokio::test(flavor = "multi_thread")]
async fn playbooks_follow_no_redirect() {
    use vigil_detect::automation::{Playbook, PlaybookTarget};
    let (url, received) = receiver_answering(
        b"HTTP/1.1 302 Found\r\nlocation: /internal\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    let playbook =
        Playbook { name: "p".into(), target: PlaybookTarget::Webhook { url: format!("{url}/hook"), secret: None } };
    let error = vigil_detect::delivery::send(&loopback(), &playbook, &serde_json::json!({}))
        .await
        .expect_err("a redirect is a failed delivery");
    assert!(error.contains("302") && error.contains("no redirect"), "{error}");
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "only the webhook itself was called");
    assert!(received[0].0.starts_with("POST /hook "), "{}", received[0].0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_is_recorded_once_even_when_two_runs_race() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = open(dir.path()).await;
    let stale = fixture.put_rule(&rule_yaml("NRT", "")).await;
    let start = fixture.store.received_horizon();
    fixture.store.append(WORKSPACE, "Events", batch(&[(0, "bad", "ana", "10.0.0.1")])).await.unwrap();
    let end = fixture.store.received_horizon();
    assert_eq!(fixture.scheduler.run_window(&stale, start, end).await.unwrap().alerts, 1);
    let error = fixture.scheduler.run_window(&stale, start, end).await.expect_err("the second run is stale");
    assert!(error.contains("watermark that has moved on"), "{error}");
    assert_eq!(fixture.alerts().await.len(), 1, "its alerts were discarded");
    fixture.close().await;
}

/// The receivers of these tests listen on this machine, which playbooks may call only when the
/// operator allows it.
fn loopback() -> vigil_outbound::OutboundPolicy {
    vigil_outbound::OutboundPolicy::allowing(&["127.0.0.1"]).unwrap()
}

/// Item 4 of the hardening issue: on ac06a67 a Contributor's playbook could make the server call
/// any address (a webhook to 127.0.0.1 was delivered, an SMTP relay on this machine was used).
#[tokio::test(flavor = "multi_thread")]
async fn playbooks_call_no_internal_address_unless_the_operator_allows_it() {
    use vigil_detect::automation::{Playbook, PlaybookTarget};
    let (url, received) = receiver().await;
    let strict = vigil_outbound::OutboundPolicy::default();
    let by_name = url.replace("127.0.0.1", "localhost");
    for target in [
        PlaybookTarget::Webhook { url: format!("{url}/hook"), secret: None },
        PlaybookTarget::Webhook { url: format!("{by_name}/hook"), secret: None },
        PlaybookTarget::Slack { url: format!("{url}/slack") },
        PlaybookTarget::Teams { url: "http://169.254.169.254/metadata/instance".into() },
    ] {
        let playbook = Playbook { name: "p".into(), target };
        let error = vigil_detect::delivery::send(&strict, &playbook, &serde_json::json!({})).await.unwrap_err();
        assert!(error.contains("not a public address"), "{error}");
    }
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let relay = PlaybookTarget::Email {
        host: "localhost".into(),
        port: Some(port),
        security: Some("none".into()),
        username: None,
        password: None,
        ca_cert_file: None,
        from: "vigil@example.test".into(),
        to: vec!["soc@example.test".into()],
    };
    let error =
        vigil_detect::delivery::send(&strict, &Playbook { name: "m".into(), target: relay }, &serde_json::json!({}))
            .await
            .unwrap_err();
    assert!(error.contains("not a public address"), "{error}");
    assert!(received.lock().unwrap().is_empty(), "nothing reached the receiver");

    let playbook =
        Playbook { name: "p".into(), target: PlaybookTarget::Webhook { url: format!("{url}/hook"), secret: None } };
    vigil_detect::delivery::send(&loopback(), &playbook, &serde_json::json!({}))
        .await
        .expect("allowed by the operator");
    assert_eq!(received.lock().unwrap().len(), 1);
}

/// Item 3 of the hardening issue: on ac06a67 a playbook's Slack URL (its key), webhook secret
/// and SMTP password lay in detection.db as written.
#[tokio::test(flavor = "multi_thread")]
async fn playbooks_are_sealed_at_rest() {
    use vigil_detect::automation::{Playbook, PlaybookTarget};
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = open(dir.path()).await;
    let secret_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX";
    let playbook = Playbook { name: "slack".into(), target: PlaybookTarget::Slack { url: secret_url.into() } };
    fixture.detection.put_playbook(WORKSPACE, &playbook).await.unwrap();
    let raw =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("detection.db").display())).await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT definition FROM playbooks").fetch_one(&raw).await.unwrap();
    assert!(!stored.contains("SECRET") && vigil_seal::SealKey::is_sealed(stored.as_bytes()), "{stored}");
    let read = fixture.detection.playbook(WORKSPACE, "slack").await.unwrap().unwrap();
    assert!(matches!(read.target, PlaybookTarget::Slack { url } if url == secret_url));

    // One written before sealing is read as it is, and sealed when the database opens again.
    let plain = serde_json::to_string(&Playbook {
        name: "old".into(),
        target: PlaybookTarget::Teams { url: "https://old.example/hook".into() },
    })
    .unwrap();
    sqlx::query("INSERT INTO playbooks (workspace, name, definition) VALUES (?, 'old', ?)")
        .bind(WORKSPACE)
        .bind(&plain)
        .execute(&raw)
        .await
        .unwrap();
    assert_eq!(fixture.detection.playbooks(WORKSPACE).await.unwrap().len(), 2);
    let reopened = Detection::open(&dir.path().join("detection.db"), seal()).await.unwrap();
    let stored: String =
        sqlx::query_scalar("SELECT definition FROM playbooks WHERE name = 'old'").fetch_one(&raw).await.unwrap();
    assert!(vigil_seal::SealKey::is_sealed(stored.as_bytes()), "{stored}");
    assert_eq!(reopened.playbooks(WORKSPACE).await.unwrap().len(), 2);
}
