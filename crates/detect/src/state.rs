//! The detection database (`detection.db`, SQLite): rules and how far each has read, alerts,
//! incidents with their comments and history, suppression and automation rules, playbooks and
//! their deliveries, workbooks, and the outbox of `SecurityAlert`/`SecurityIncident` rows.
//!
//! Architecture invariant: a rule run's alerts, incidents, automation effects, deliveries and
//! the rule's new watermark are committed in one transaction, so a crash either keeps all of
//! it or none, and the next run starts where the committed one ended: no event alerts twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, Sqlite, Transaction};
use vigil_seal::SealKey;

use crate::alert::AlertDraft;
use crate::automation::{Action, AutomationRule, Playbook, TriggersOn, TriggersWhen};
use crate::conditions::Subject;
use crate::entities::Entity;
use crate::odata::{SqlFilter, SqlValue};
use crate::rule::{MatchingMethod, Rule};
use crate::suppression::{NewSuppression, SuppressionRule};
use crate::time::{format_time, now_nanos};

/// `detection.db`'s schema, by steps (see `vigil_sqlite`): never edit one, add one.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT OR IGNORE INTO generation (id, value) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS rules (
    workspace TEXT NOT NULL,
    id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    source TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    -- Ingestion time (ns) up to which runs have read the workspace.
    watermark INTEGER,
    suppressed_until INTEGER,
    last_run_at INTEGER,
    last_run_seconds REAL,
    last_result_count INTEGER,
    last_alert_count INTEGER,
    last_error TEXT,
    runs INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, id)
);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    workspace TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    classification TEXT,
    determination TEXT,
    assigned_to TEXT,
    tactics TEXT NOT NULL,
    techniques TEXT NOT NULL,
    entities TEXT NOT NULL,
    custom_details TEXT NOT NULL,
    evidence TEXT NOT NULL,
    result_rows INTEGER NOT NULL,
    comments TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    first_event_time TEXT,
    last_event_time TEXT,
    resolved_at TEXT,
    incident_id INTEGER,
    suppressed_by TEXT
);
CREATE INDEX IF NOT EXISTS alerts_by_update ON alerts (tenant, updated_at);
CREATE INDEX IF NOT EXISTS alerts_by_incident ON alerts (incident_id);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    workspace TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    classification TEXT,
    classification_reason TEXT,
    classification_comment TEXT,
    owner TEXT,
    labels TEXT NOT NULL DEFAULT '[]',
    rule_ids TEXT NOT NULL,
    -- The rule that opened it and the key its alerts share, for grouping.
    grouping_rule TEXT,
    grouping_key TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    first_activity TEXT,
    last_activity TEXT
);
CREATE INDEX IF NOT EXISTS incidents_by_update ON incidents (tenant, updated_at);
CREATE INDEX IF NOT EXISTS incidents_by_grouping ON incidents (workspace, grouping_rule, grouping_key);
CREATE TABLE IF NOT EXISTS incident_comments (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS incident_history (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_incident ON incident_history (incident_id);
CREATE TABLE IF NOT EXISTS suppression_rules (
    id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    conditions TEXT NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    last_hit TEXT
);
CREATE TABLE IF NOT EXISTS automation_rules (
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (workspace, name)
);
CREATE TABLE IF NOT EXISTS playbooks (
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (workspace, name)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL,
    playbook TEXT NOT NULL,
    incident_id INTEGER,
    alert_id TEXT,
    event TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (next_attempt) WHERE status = 'Pending';
CREATE TABLE IF NOT EXISTS workbooks (
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (workspace, name)
);
CREATE TABLE IF NOT EXISTS saved_queries (
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (workspace, name)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL,
    table_name TEXT NOT NULL,
    row TEXT NOT NULL
);
",
    // Alert properties set by rules' alertDynamicProperties (ProductName, RemediationSteps...).
    "ALTER TABLE alerts ADD COLUMN properties TEXT NOT NULL DEFAULT '{}';",
];

/// Deliveries give up after this many attempts.
pub const MAX_DELIVERY_ATTEMPTS: i64 = 8;

/// Why an operation on detection state failed; the server maps each kind to a status.
#[derive(Debug)]
pub enum DetectionError {
    /// What the caller asked for is not valid (a playbook, an automation or suppression rule).
    Invalid(String),
    /// No such alert, incident or rule.
    NotFound(String),
    /// The state moved under the operation (a rule run from a watermark that moved on).
    Conflict(String),
    /// The database could not be opened or brought up to date.
    Open(vigil_sqlite::OpenError),
    /// The database failed while doing `what`.
    Storage { what: &'static str, source: sqlx::Error },
    /// What the database holds cannot be read: malformed JSON, or a sealed playbook that does
    /// not open with this server's secrets key.
    Corrupt(String),
}

impl std::fmt::Display for DetectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DetectionError::Invalid(m) | DetectionError::NotFound(m) | DetectionError::Conflict(m) => f.write_str(m),
            DetectionError::Open(e) => write!(f, "cannot open the detection database: {e}"),
            DetectionError::Storage { what, source } => write!(f, "detection database: cannot {what}: {source}"),
            DetectionError::Corrupt(m) => write!(f, "detection database: {m}"),
        }
    }
}

impl std::error::Error for DetectionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DetectionError::Open(e) => Some(e),
            DetectionError::Storage { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, DetectionError>;

fn db_error(what: &'static str) -> impl Fn(sqlx::Error) -> DetectionError {
    move |source| DetectionError::Storage { what, source }
}

fn json_error(e: serde_json::Error) -> DetectionError {
    DetectionError::Corrupt(format!("it holds malformed JSON: {e}"))
}

/// A rule with its workspace and its state.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRecord {
    pub tenant: String,
    pub workspace: String,
    pub rule: Rule,
    #[serde(skip)]
    pub source: String,
    pub enabled: bool,
    #[serde(skip)]
    pub created_at: i64,
    #[serde(skip)]
    pub watermark: Option<i64>,
    #[serde(skip)]
    pub suppressed_until: Option<i64>,
    pub last_run: Option<String>,
    pub last_run_seconds: Option<f64>,
    pub last_result_count: Option<i64>,
    pub last_alert_count: Option<i64>,
    pub last_error: Option<String>,
    pub runs: i64,
    pub failures: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRecord {
    pub id: String,
    pub tenant: String,
    pub workspace: String,
    pub rule_id: String,
    pub rule_name: String,
    pub title: String,
    pub description: String,
    pub severity: String,
    pub status: String,
    pub classification: Option<String>,
    pub determination: Option<String>,
    pub assigned_to: Option<String>,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    #[serde(skip)]
    pub entities: Vec<Entity>,
    pub custom_details: Json,
    pub evidence: Json,
    pub result_rows: i64,
    pub comments: Json,
    pub created_at: String,
    pub updated_at: String,
    pub first_event_time: Option<String>,
    pub last_event_time: Option<String>,
    pub resolved_at: Option<String>,
    pub incident_id: Option<i64>,
    pub suppressed_by: Option<String>,
    /// Properties the rule set from result columns (`ProductName`, `RemediationSteps`...).
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub author: String,
    pub message: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub id: i64,
    pub playbook: String,
    pub event: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentRecord {
    pub id: i64,
    pub tenant: String,
    pub workspace: String,
    pub title: String,
    pub description: String,
    pub severity: String,
    pub status: String,
    pub classification: Option<String>,
    pub classification_reason: Option<String>,
    pub classification_comment: Option<String>,
    pub owner: Option<String>,
    pub labels: Vec<String>,
    pub rule_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub first_activity: Option<String>,
    pub last_activity: Option<String>,
    pub alerts: Vec<AlertRecord>,
    pub comments: Vec<Comment>,
    pub history: Vec<HistoryEntry>,
    pub deliveries: Vec<DeliveryRecord>,
}

/// Which alerts and incidents a caller may see: a tenant, and within it some workspaces or all.
#[derive(Debug, Clone)]
pub struct Scope {
    /// `None` only for Vigil's own work (playbook deliveries), never for a caller.
    pub tenant: Option<String>,
    pub workspaces: Option<Vec<String>>,
}

impl Scope {
    pub fn tenant(tenant: &str, workspaces: Option<Vec<String>>) -> Scope {
        Scope { tenant: Some(tenant.to_string()), workspaces }
    }

    pub fn everything() -> Scope {
        Scope { tenant: None, workspaces: None }
    }

    fn allows(&self, tenant: &str, workspace: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
            && self.workspaces.as_ref().is_none_or(|w| w.iter().any(|w| w == workspace))
    }
}

/// A page request of the alerts or incidents APIs.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub filter: Option<SqlFilter>,
    /// An SQL `ORDER BY` list from [`crate::odata::order_by_to_sql`]; newest first when absent.
    pub order_by: Option<String>,
    pub top: i64,
    pub skip: i64,
}

/// Changes to an incident; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentChange {
    pub status: Option<String>,
    pub severity: Option<String>,
    /// `Some(None)` unassigns.
    #[serde(default, with = "double_option")]
    pub owner: Option<Option<String>>,
    pub classification: Option<String>,
    pub classification_reason: Option<String>,
    pub classification_comment: Option<String>,
    pub labels: Option<Vec<String>>,
    pub add_labels: Option<Vec<String>>,
    pub comment: Option<String>,
}

/// Changes to an alert, as Defender's `PATCH /api/alerts/{id}` takes them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertChange {
    pub status: Option<String>,
    #[serde(default, with = "double_option")]
    pub assigned_to: Option<Option<String>>,
    pub classification: Option<String>,
    pub determination: Option<String>,
    pub comment: Option<String>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(deserializer).map(Some)
    }
}

/// What one rule run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub alerts: usize,
    pub suppressed: usize,
    pub incidents_created: usize,
    pub incidents_updated: usize,
    pub deliveries: usize,
}

/// A row for the `SecurityAlert` or `SecurityIncident` table, waiting to be appended.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub seq: i64,
    pub workspace: String,
    pub table: String,
    pub row: Json,
}

/// A delivery that is due, with its playbook and what it is about.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub workspace: String,
    pub playbook: String,
    pub event: String,
    pub attempts: i64,
    pub incident_id: Option<i64>,
    pub alert_id: Option<String>,
}

pub struct Detection {
    pool: SqlitePool,
    /// Seals playbooks (their URLs, secrets and passwords are credentials) at rest.
    seal: SealKey,
    /// One writer at a time in this process: SQLite serializes writers anyway, and waiting
    /// here is cheaper and never fails where upgrading a read transaction can.
    writing: tokio::sync::Mutex<()>,
    /// Wakes the delivery worker when deliveries are queued.
    pub deliveries_queued: tokio::sync::Notify,
    /// Wakes whoever appends the outbox to the store.
    pub outbox_filled: tokio::sync::Notify,
}

impl Detection {
    /// Opens (creating if needed) a detection database whose playbooks are sealed with `seal`;
    /// playbooks written before sealing are sealed now.
    pub async fn open(path: &Path, seal: SealKey) -> Result<Arc<Detection>> {
        let pool = vigil_sqlite::open(path, MIGRATIONS).await.map_err(DetectionError::Open)?;
        let detection = Detection {
            pool,
            seal,
            writing: tokio::sync::Mutex::new(()),
            deliveries_queued: tokio::sync::Notify::new(),
            outbox_filled: tokio::sync::Notify::new(),
        };
        detection.seal_playbooks().await?;
        Ok(Arc::new(detection))
    }

    async fn seal_playbooks(&self) -> Result<()> {
        let rows: Vec<(String, String, String)> = sqlx::query_as("SELECT workspace, name, definition FROM playbooks")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error("read the playbooks"))?;
        for (workspace, name, definition) in rows {
            if SealKey::is_sealed(definition.as_bytes()) {
                continue;
            }
            sqlx::query("UPDATE playbooks SET definition = ? WHERE workspace = ? AND name = ?")
                .bind(self.seal.seal_text(&definition))
                .bind(workspace)
                .bind(name)
                .execute(&self.pool)
                .await
                .map_err(db_error("seal the playbooks"))?;
        }
        Ok(())
    }

    fn unseal_playbook(&self, stored: &str) -> Result<Playbook> {
        let text = self.seal.open_text(stored).map_err(|e| DetectionError::Corrupt(format!("a playbook: {e}")))?;
        serde_json::from_str(&text).map_err(json_error)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Moves on every change of rules, playbooks, automation or suppression rules, by this
    /// process or another (the CLI): the scheduler reloads when it does.
    pub async fn generation(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT value FROM generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error("read the generation"))
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes SQLite's write lock up front, so a writer
    /// in another process (the CLI) makes this wait for the busy timeout instead of failing
    /// when a transaction that started by reading tries to write.
    async fn begin(&self) -> Result<(tokio::sync::MutexGuard<'_, ()>, Transaction<'_, Sqlite>)> {
        let guard = self.writing.lock().await;
        let transaction = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error("start a transaction"))?;
        Ok((guard, transaction))
    }

    async fn bump(transaction: &mut Transaction<'_, Sqlite>) -> Result<()> {
        sqlx::query("UPDATE generation SET value = value + 1 WHERE id = 1")
            .execute(&mut **transaction)
            .await
            .map_err(db_error("bump the generation"))?;
        Ok(())
    }

    // ---- rules

    /// Creates or replaces a rule (same workspace and id). A replaced rule keeps its state and
    /// enablement unless `enabled` says otherwise.
    pub async fn put_rule(
        &self,
        tenant: &str,
        workspace: &str,
        rule: &Rule,
        source: &str,
        enabled: Option<bool>,
    ) -> Result<RuleRecord> {
        let now = now_nanos();
        let definition = serde_json::to_string(rule).map_err(json_error)?;
        let (_guard, mut transaction) = self.begin().await?;
        sqlx::query(
            "INSERT INTO rules (workspace, id, tenant, name, kind, enabled, source, definition, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (workspace, id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                 enabled = COALESCE(?, rules.enabled), source = excluded.source, definition = excluded.definition,
                 updated_at = excluded.updated_at",
        )
        .bind(workspace)
        .bind(&rule.id)
        .bind(tenant)
        .bind(&rule.name)
        .bind(rule.kind.as_str())
        .bind(enabled.unwrap_or(true))
        .bind(source)
        .bind(&definition)
        .bind(now)
        .bind(now)
        .bind(enabled)
        .execute(&mut *transaction)
        .await
        .map_err(db_error("save the rule"))?;
        Self::bump(&mut transaction).await?;
        transaction.commit().await.map_err(db_error("save the rule"))?;
        drop(_guard);
        self.rule(workspace, &rule.id)
            .await?
            .ok_or_else(|| DetectionError::Conflict("the saved rule was deleted meanwhile".to_string()))
    }

    pub async fn rules(&self, workspace: Option<&str>) -> Result<Vec<RuleRecord>> {
        let rows = sqlx::query("SELECT * FROM rules WHERE ?1 IS NULL OR workspace = ?1 ORDER BY workspace, name")
            .bind(workspace)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error("read the rules"))?;
        rows.iter().map(rule_record).collect()
    }

    pub async fn rule(&self, workspace: &str, id: &str) -> Result<Option<RuleRecord>> {
        let row = sqlx::query("SELECT * FROM rules WHERE workspace = ? AND id = ?")
            .bind(workspace)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error("read the rule"))?;
        row.as_ref().map(rule_record).transpose()
    }

    /// Returns whether the rule exists.
    pub async fn set_rule_enabled(&self, workspace: &str, id: &str, enabled: bool) -> Result<bool> {
        let (_guard, mut transaction) = self.begin().await?;
        let changed = sqlx::query("UPDATE rules SET enabled = ?, updated_at = ? WHERE workspace = ? AND id = ?")
            .bind(enabled)
            .bind(now_nanos())
            .bind(workspace)
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(db_error("change the rule"))?
            .rows_affected();
        Self::bump(&mut transaction).await?;
        transaction.commit().await.map_err(db_error("change the rule"))?;
        Ok(changed > 0)
    }

    pub async fn delete_rule(&self, workspace: &str, id: &str) -> Result<bool> {
        let (_guard, mut transaction) = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM rules WHERE workspace = ? AND id = ?")
            .bind(workspace)
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(db_error("delete the rule"))?
            .rows_affected();
        Self::bump(&mut transaction).await?;
        transaction.commit().await.map_err(db_error("delete the rule"))?;
        Ok(deleted > 0)
    }

    /// Records a run that failed: the watermark stays, so the window is read again next time.
    pub async fn record_failure(&self, record: &RuleRecord, seconds: f64, error: &str) -> Result<()> {
        let (_guard, mut transaction) = self.begin().await?;
        sqlx::query(
            "UPDATE rules SET last_run_at = ?, last_run_seconds = ?, last_error = ?, runs = runs + 1,
             failures = failures + 1 WHERE workspace = ? AND id = ?",
        )
        .bind(now_nanos())
        .bind(seconds)
        .bind(error)
        .bind(&record.workspace)
        .bind(&record.rule.id)
        .execute(&mut *transaction)
        .await
        .map_err(db_error("record the failed run"))?;
        transaction.commit().await.map_err(db_error("record the failed run"))
    }

    /// Commits a run that read up to `watermark`: its alerts (minus the silenced ones), their
    /// incidents, the automation they trigger and the rule's new state, all or nothing.
    /// Records a run of a rule: its alerts, incidents and automation, and (for a scheduled run,
    /// `watermark` the end of its window) the rule's new watermark, all in one transaction. A run
    /// on demand (`watermark` `None`) leaves the rule's schedule as it was.
    pub async fn record_run(
        &self,
        record: &RuleRecord,
        watermark: Option<i64>,
        result_count: usize,
        seconds: f64,
        drafts: Vec<AlertDraft>,
    ) -> Result<RunReport> {
        let mut report = RunReport::default();
        let (_guard, mut transaction) = self.begin().await?;
        let now = now_nanos();
        let now_text = format_time(now);
        let suppressions = load_suppressions(&mut transaction, &record.workspace, &now_text).await?;
        let automation = load_automation(&mut transaction, &record.workspace).await?;
        let mut raised_any = false;
        for draft in drafts {
            let alert_id = uuid::Uuid::new_v4().to_string();
            let subject = draft_subject(record, &draft);
            let silencing = suppressions.iter().find(|s| s.conditions.iter().all(|c| c.holds(&subject)));
            let status = if silencing.is_some() { "Resolved" } else { "New" };
            insert_alert(
                &mut transaction,
                record,
                &alert_id,
                &draft,
                status,
                silencing.map(|s| s.id.as_str()),
                &now_text,
            )
            .await?;
            if let Some(suppression) = silencing {
                report.suppressed += 1;
                sqlx::query("UPDATE suppression_rules SET hits = hits + 1, last_hit = ? WHERE id = ?")
                    .bind(&now_text)
                    .bind(&suppression.id)
                    .execute(&mut *transaction)
                    .await
                    .map_err(db_error("count a suppression"))?;
                outbox_alert(&mut transaction, &alert_id).await?;
                continue;
            }
            raised_any = true;
            report.alerts += 1;
            report.deliveries += run_automation(
                &mut transaction,
                &automation,
                TriggersOn::Alerts,
                TriggersWhen::Created,
                None,
                Some(&alert_id),
            )
            .await?;
            if record.rule.incident.create_incident {
                let (incident_id, created) =
                    attach_to_incident(&mut transaction, record, &alert_id, &draft, &now_text).await?;
                let when = if created {
                    report.incidents_created += 1;
                    TriggersWhen::Created
                } else {
                    report.incidents_updated += 1;
                    TriggersWhen::Updated
                };
                report.deliveries +=
                    run_automation(&mut transaction, &automation, TriggersOn::Incidents, when, Some(incident_id), None)
                        .await?;
                outbox_incident(&mut transaction, incident_id).await?;
            }
            outbox_alert(&mut transaction, &alert_id).await?;
        }
        let suppressed_until = match record.rule.suppression {
            Some(duration) if raised_any => Some(now + duration),
            _ => record.suppressed_until,
        };
        // Only from the watermark the run started from: a window is recorded once, even if two
        // runs of it race. A run on demand keeps the watermark it found.
        let moved = sqlx::query(
            "UPDATE rules SET watermark = ?, suppressed_until = ?, last_run_at = ?, last_run_seconds = ?,
             last_result_count = ?, last_alert_count = ?, last_error = NULL, runs = runs + 1
             WHERE workspace = ? AND id = ? AND watermark IS ?",
        )
        .bind(watermark.or(record.watermark))
        .bind(suppressed_until)
        .bind(now)
        .bind(seconds)
        .bind(result_count as i64)
        .bind(report.alerts as i64)
        .bind(&record.workspace)
        .bind(&record.rule.id)
        .bind(record.watermark)
        .execute(&mut *transaction)
        .await
        .map_err(db_error("record the run"))?
        .rows_affected();
        if moved == 0 {
            transaction.rollback().await.map_err(db_error("discard a stale run"))?;
            return Err(DetectionError::Conflict(format!(
                "rule '{}' was run from a watermark that has moved on (or was deleted); its results were discarded",
                record.rule.name
            )));
        }
        transaction.commit().await.map_err(db_error("record the run"))?;
        if report.deliveries > 0 {
            self.deliveries_queued.notify_one();
        }
        if report.alerts + report.suppressed > 0 {
            self.outbox_filled.notify_one();
        }
        Ok(report)
    }

    // ---- alerts

    pub async fn alerts(&self, scope: &Scope, page: &Page) -> Result<Vec<AlertRecord>> {
        let (where_clause, params) = scope_clause(scope, page.filter.as_ref());
        let text = format!("SELECT * FROM alerts WHERE {where_clause} ORDER BY created_at DESC, id LIMIT ? OFFSET ?");
        let mut query = sqlx::query(&text);
        for param in &params {
            query = bind_value(query, param);
        }
        let rows =
            query.bind(page.top).bind(page.skip).fetch_all(&self.pool).await.map_err(db_error("read the alerts"))?;
        rows.iter().map(alert_record).collect()
    }

    pub async fn alert(&self, scope: &Scope, id: &str) -> Result<Option<AlertRecord>> {
        let row = sqlx::query("SELECT * FROM alerts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error("read the alert"))?;
        let alert = row.as_ref().map(alert_record).transpose()?;
        Ok(alert.filter(|a| scope.allows(&a.tenant, &a.workspace)))
    }

    pub async fn update_alert(&self, id: &str, change: &AlertChange, actor: &str) -> Result<()> {
        let now = format_time(now_nanos());
        let (_guard, mut transaction) = self.begin().await?;
        let row = sqlx::query("SELECT * FROM alerts WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(db_error("read the alert"))?;
        let Some(alert) = row.as_ref().map(alert_record).transpose()? else {
            return Err(DetectionError::NotFound(format!("alert {id} does not exist")));
        };
        let status = change.status.clone().unwrap_or(alert.status.clone());
        let resolved_at = if status == "Resolved" { alert.resolved_at.clone().or(Some(now.clone())) } else { None };
        let mut comments = alert.comments.as_array().cloned().unwrap_or_default();
        if let Some(comment) = &change.comment {
            comments.push(json!({"comment": comment, "createdBy": actor, "createdTime": now}));
        }
        sqlx::query(
            "UPDATE alerts SET status = ?, assigned_to = ?, classification = ?, determination = ?, comments = ?,
             resolved_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&status)
        .bind(change.assigned_to.clone().unwrap_or(alert.assigned_to.clone()))
        .bind(change.classification.clone().or(alert.classification.clone()))
        .bind(change.determination.clone().or(alert.determination.clone()))
        .bind(Json::Array(comments).to_string())
        .bind(resolved_at)
        .bind(&now)
        .bind(id)
        .execute(&mut *transaction)
        .await
        .map_err(db_error("update the alert"))?;
        if let Some(incident_id) = alert.incident_id {
            let changes: Vec<String> = [
                change.status.as_ref().map(|s| format!("status → {s}")),
                change.assigned_to.as_ref().map(|a| format!("assigned to → {}", a.as_deref().unwrap_or("nobody"))),
                change.classification.as_ref().map(|c| format!("classification → {c}")),
                change.comment.as_ref().map(|c| format!("comment: {c}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            history(
                &mut transaction,
                incident_id,
                actor,
                "AlertUpdated",
                &format!("alert {id}: {}", changes.join(", ")),
            )
            .await?;
        }
        outbox_alert(&mut transaction, id).await?;
        transaction.commit().await.map_err(db_error("update the alert"))?;
        self.outbox_filled.notify_one();
        Ok(())
    }

    // ---- incidents

    pub async fn incidents(&self, scope: &Scope, page: &Page) -> Result<Vec<IncidentRecord>> {
        let (where_clause, params) = scope_clause(scope, page.filter.as_ref());
        let order = page.order_by.as_deref().map(|o| format!("{o}, id DESC")).unwrap_or_else(|| "id DESC".to_string());
        let text = format!("SELECT * FROM incidents WHERE {where_clause} ORDER BY {order} LIMIT ? OFFSET ?");
        let mut query = sqlx::query(&text);
        for param in &params {
            query = bind_value(query, param);
        }
        let rows =
            query.bind(page.top).bind(page.skip).fetch_all(&self.pool).await.map_err(db_error("read the incidents"))?;
        let mut incidents = Vec::with_capacity(rows.len());
        for row in &rows {
            incidents.push(self.complete(incident_row(row)?, false).await?);
        }
        Ok(incidents)
    }

    /// How many incidents match, for `@odata.count`.
    pub async fn count_incidents(&self, scope: &Scope, page: &Page) -> Result<i64> {
        let (where_clause, params) = scope_clause(scope, page.filter.as_ref());
        let text = format!("SELECT COUNT(*) FROM incidents WHERE {where_clause}");
        let mut query = sqlx::query(&text);
        for param in &params {
            query = bind_value(query, param);
        }
        let row = query.fetch_one(&self.pool).await.map_err(db_error("count the incidents"))?;
        Ok(row.get(0))
    }

    pub async fn incident(&self, scope: &Scope, id: i64) -> Result<Option<IncidentRecord>> {
        let row = sqlx::query("SELECT * FROM incidents WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error("read the incident"))?;
        let Some(incident) = row.as_ref().map(incident_row).transpose()? else {
            return Ok(None);
        };
        if !scope.allows(&incident.tenant, &incident.workspace) {
            return Ok(None);
        }
        Ok(Some(self.complete(incident, true).await?))
    }

    /// Adds alerts and comments, and with `details` the history and deliveries.
    async fn complete(&self, mut incident: IncidentRecord, details: bool) -> Result<IncidentRecord> {
        let alerts = sqlx::query("SELECT * FROM alerts WHERE incident_id = ? ORDER BY created_at")
            .bind(incident.id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error("read the incident's alerts"))?;
        incident.alerts = alerts.iter().map(alert_record).collect::<Result<_>>()?;
        let comments =
            sqlx::query("SELECT author, message, created_at FROM incident_comments WHERE incident_id = ? ORDER BY id")
                .bind(incident.id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error("read the incident's comments"))?;
        incident.comments =
            comments.iter().map(|r| Comment { author: r.get(0), message: r.get(1), created_at: r.get(2) }).collect();
        if details {
            let history =
                sqlx::query("SELECT at, actor, action, detail FROM incident_history WHERE incident_id = ? ORDER BY id")
                    .bind(incident.id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error("read the incident's history"))?;
            incident.history = history
                .iter()
                .map(|r| HistoryEntry { at: r.get(0), actor: r.get(1), action: r.get(2), detail: r.get(3) })
                .collect();
            let deliveries = sqlx::query(
                "SELECT id, playbook, event, status, attempts, last_error, created_at, delivered_at FROM deliveries
                 WHERE incident_id = ? ORDER BY id",
            )
            .bind(incident.id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error("read the incident's deliveries"))?;
            incident.deliveries = deliveries
                .iter()
                .map(|r| DeliveryRecord {
                    id: r.get(0),
                    playbook: r.get(1),
                    event: r.get(2),
                    status: r.get(3),
                    attempts: r.get(4),
                    last_error: r.get(5),
                    created_at: r.get(6),
                    delivered_at: r.get(7),
                })
                .collect();
        }
        Ok(incident)
    }

    /// Applies a change by `actor`, records each field's change in the history, and runs the
    /// automation rules triggered by incident updates.
    pub async fn update_incident(&self, id: i64, change: &IncidentChange, actor: &str) -> Result<()> {
        let (_guard, mut transaction) = self.begin().await?;
        let changed = apply_incident_change(&mut transaction, id, change, actor).await?;
        let mut deliveries = 0;
        if changed {
            let workspace: String = sqlx::query_scalar("SELECT workspace FROM incidents WHERE id = ?")
                .bind(id)
                .fetch_one(&mut *transaction)
                .await
                .map_err(db_error("read the incident"))?;
            let automation = load_automation(&mut transaction, &workspace).await?;
            deliveries = run_automation(
                &mut transaction,
                &automation,
                TriggersOn::Incidents,
                TriggersWhen::Updated,
                Some(id),
                None,
            )
            .await?;
            outbox_incident(&mut transaction, id).await?;
        }
        transaction.commit().await.map_err(db_error("update the incident"))?;
        if deliveries > 0 {
            self.deliveries_queued.notify_one();
        }
        self.outbox_filled.notify_one();
        Ok(())
    }

    // ---- suppression rules

    pub async fn add_suppression(&self, workspace: &str, new: &NewSuppression, actor: &str) -> Result<SuppressionRule> {
        let duration = new.check().map_err(DetectionError::Invalid)?;
        let now = now_nanos();
        let rule = SuppressionRule {
            id: uuid::Uuid::new_v4().to_string(),
            name: new.name.clone(),
            reason: new.reason.clone(),
            created_by: actor.to_string(),
            created_at: format_time(now),
            expires_at: duration.map(|d| format_time(now.saturating_add(d))),
            conditions: new.conditions.clone(),
            hits: 0,
            last_hit: None,
        };
        let (_guard, mut transaction) = self.begin().await?;
        sqlx::query(
            "INSERT INTO suppression_rules (id, workspace, name, reason, created_by, created_at, expires_at, conditions)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&rule.id)
        .bind(workspace)
        .bind(&rule.name)
        .bind(&rule.reason)
        .bind(&rule.created_by)
        .bind(&rule.created_at)
        .bind(&rule.expires_at)
        .bind(serde_json::to_string(&rule.conditions).map_err(json_error)?)
        .execute(&mut *transaction)
        .await
        .map_err(db_error("save the suppression rule"))?;
        Self::bump(&mut transaction).await?;
        transaction.commit().await.map_err(db_error("save the suppression rule"))?;
        Ok(rule)
    }

    pub async fn suppressions(&self, workspace: &str) -> Result<Vec<SuppressionRule>> {
        let mut connection = self.pool.acquire().await.map_err(db_error("read the suppression rules"))?;
        let rows = sqlx::query("SELECT * FROM suppression_rules WHERE workspace = ? ORDER BY created_at")
            .bind(workspace)
            .fetch_all(&mut *connection)
            .await
            .map_err(db_error("read the suppression rules"))?;
        rows.iter().map(suppression_record).collect()
    }

    pub async fn delete_suppression(&self, workspace: &str, id: &str) -> Result<bool> {
        let (_guard, mut transaction) = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM suppression_rules WHERE workspace = ? AND id = ?")
            .bind(workspace)
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(db_error("delete the suppression rule"))?
            .rows_affected();
        Self::bump(&mut transaction).await?;
        transaction.commit().await.map_err(db_error("delete the suppression rule"))?;
        Ok(deleted > 0)
    }

    // ---- automation and playbooks

    pub async fn put_playbook(&self, workspace: &str, playbook: &Playbook) -> Result<()> {
        playbook.check().map_err(DetectionError::Invalid)?;
        let (_guard, mut transaction) = self.begin().await?;
        sqlx::query("INSERT OR REPLACE INTO playbooks (workspace, name, definition) VALUES (?, ?, ?)")
            .bind(workspace)
            .bind(&playbook.name)
            .bind(self.seal.seal_text(&serde_json::to_string(playbook).map_err(json_error)?))
            .execute(&mut *transaction)
            .await
            .map_err(db_error("save the playbook"))?;
        Self::bump(&mut transaction).await?;
        transaction.commit().await.map_err(db_error("save the playbook"))
    }

    pub async fn playbooks(&self, workspace: &str) -> Result<Vec<Playbook>> {
        let rows =
            sqlx::query_scalar::<_, String>("SELECT definition FROM playbooks WHERE workspace = ? ORDER BY name")
                .bind(workspace)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error("read the playbooks"))?;
        rows.iter().map(|stored| self.unseal_playbook(stored)).collect()
    }

    pub async fn playbook(&self, workspace: &str, name: &str) -> Result<Option<Playbook>> {
        let text = sqlx::query_scalar::<_, String>("SELECT definition FROM playbooks WHERE workspace = ? AND name = ?")
            .bind(workspace)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error("read the playbook"))?;
        text.map(|stored| self.unseal_playbook(&stored)).transpose()
    }

    pub async fn put_automation_rule(&self, workspace: &str, rule: &AutomationRule) -> Result<()> {
        let playbooks: Vec<String> = self.playbooks(workspace).await?.into_iter().map(|p| p.name).collect();
        rule.check(&|name| playbooks.iter().any(|p| p == name)).map_err(DetectionError::Invalid)?;
        let (_guard, mut transaction) = self.begin().await?;
        sqlx::query(
            "INSERT OR REPLACE INTO automation_rules (workspace, name, position, definition) VALUES (?, ?, ?, ?)",
        )
        .bind(workspace)
        .bind(&rule.name)
        .bind(rule.order)
        .bind(serde_json::to_string(rule).map_err(json_error)?)
        .execute(&mut *transaction)
        .await
        .map_err(db_error("save the automation rule"))?;
        Self::bump(&mut transaction).await?;
        transaction.commit().await.map_err(db_error("save the automation rule"))
    }

    pub async fn automation_rules(&self, workspace: &str) -> Result<Vec<AutomationRule>> {
        let mut connection = self.pool.begin().await.map_err(db_error("read the automation rules"))?;
        load_automation(&mut connection, workspace).await
    }

    // ---- workbooks and saved queries: JSON documents of a workspace, by name

    pub async fn put_workbook(&self, workspace: &str, name: &str, content: &Json) -> Result<()> {
        self.put_document(Document::Workbook, workspace, name, content).await
    }

    /// `(name, content, updated)` of every workbook, by name.
    pub async fn workbooks(&self, workspace: &str) -> Result<Vec<(String, Json, String)>> {
        self.documents(Document::Workbook, workspace, None).await
    }

    pub async fn workbook(&self, workspace: &str, name: &str) -> Result<Option<(String, Json, String)>> {
        Ok(self.documents(Document::Workbook, workspace, Some(name)).await?.pop())
    }

    pub async fn delete_workbook(&self, workspace: &str, name: &str) -> Result<bool> {
        self.delete_document(Document::Workbook, workspace, name).await
    }

    pub async fn put_saved_query(&self, workspace: &str, id: &str, content: &Json) -> Result<()> {
        self.put_document(Document::SavedQuery, workspace, id, content).await
    }

    pub async fn saved_queries(&self, workspace: &str) -> Result<Vec<(String, Json, String)>> {
        self.documents(Document::SavedQuery, workspace, None).await
    }

    pub async fn delete_saved_query(&self, workspace: &str, id: &str) -> Result<bool> {
        self.delete_document(Document::SavedQuery, workspace, id).await
    }

    async fn put_document(&self, kind: Document, workspace: &str, name: &str, content: &Json) -> Result<()> {
        let (_guard, mut transaction) = self.begin().await?;
        let sql = format!(
            "INSERT OR REPLACE INTO {} (workspace, name, content, updated_at) VALUES (?, ?, ?, ?)",
            kind.table()
        );
        sqlx::query(&sql)
            .bind(workspace)
            .bind(name)
            .bind(content.to_string())
            .bind(format_time(now_nanos()))
            .execute(&mut *transaction)
            .await
            .map_err(db_error(kind.saving()))?;
        transaction.commit().await.map_err(db_error(kind.saving()))
    }

    async fn documents(
        &self,
        kind: Document,
        workspace: &str,
        name: Option<&str>,
    ) -> Result<Vec<(String, Json, String)>> {
        let sql = format!(
            "SELECT name, content, updated_at FROM {} WHERE workspace = ? AND (? IS NULL OR name = ?) ORDER BY name",
            kind.table()
        );
        let rows = sqlx::query(&sql)
            .bind(workspace)
            .bind(name)
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error(kind.reading()))?;
        rows.iter()
            .map(|row| {
                let content = serde_json::from_str(row.get::<&str, _>(1)).map_err(json_error)?;
                Ok((row.get(0), content, row.get(2)))
            })
            .collect()
    }

    async fn delete_document(&self, kind: Document, workspace: &str, name: &str) -> Result<bool> {
        let (_guard, mut transaction) = self.begin().await?;
        let sql = format!("DELETE FROM {} WHERE workspace = ? AND name = ?", kind.table());
        let deleted = sqlx::query(&sql)
            .bind(workspace)
            .bind(name)
            .execute(&mut *transaction)
            .await
            .map_err(db_error(kind.saving()))?
            .rows_affected();
        transaction.commit().await.map_err(db_error(kind.saving()))?;
        Ok(deleted > 0)
    }

    // ---- deliveries

    pub async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<DueDelivery>> {
        let rows = sqlx::query(
            "SELECT id, workspace, playbook, event, attempts, incident_id, alert_id FROM deliveries
             WHERE status = 'Pending' AND next_attempt <= ? ORDER BY next_attempt LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error("read the deliveries"))?;
        Ok(rows
            .iter()
            .map(|r| DueDelivery {
                id: r.get(0),
                workspace: r.get(1),
                playbook: r.get(2),
                event: r.get(3),
                attempts: r.get(4),
                incident_id: r.get(5),
                alert_id: r.get(6),
            })
            .collect())
    }

    /// The time of the next pending delivery, if any.
    pub async fn next_delivery_at(&self) -> Result<Option<i64>> {
        sqlx::query_scalar("SELECT MIN(next_attempt) FROM deliveries WHERE status = 'Pending'")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error("read the deliveries"))
    }

    /// Records an attempt: delivered, retried at `retry_at`, or given up (`retry_at` `None`).
    /// Failures are written to the incident's history, where analysts see them.
    pub async fn record_delivery(
        &self,
        delivery: &DueDelivery,
        outcome: std::result::Result<(), String>,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let now = format_time(now_nanos());
        let (_guard, mut transaction) = self.begin().await?;
        let (status, error) = match (&outcome, retry_at) {
            (Ok(()), _) => ("Delivered", None),
            (Err(e), Some(_)) => ("Pending", Some(e.clone())),
            (Err(e), None) => ("Failed", Some(e.clone())),
        };
        sqlx::query(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt = ?, last_error = ?,
             delivered_at = ? WHERE id = ?",
        )
        .bind(status)
        .bind(retry_at.unwrap_or(i64::MAX))
        .bind(&error)
        .bind(outcome.is_ok().then(|| now.clone()))
        .bind(delivery.id)
        .execute(&mut *transaction)
        .await
        .map_err(db_error("record the delivery"))?;
        if let Some(incident_id) = delivery.incident_id {
            let (action, detail) = match (&outcome, retry_at) {
                (Ok(()), _) => ("PlaybookDelivered", format!("playbook '{}' delivered", delivery.playbook)),
                (Err(e), Some(_)) => (
                    "PlaybookFailed",
                    format!(
                        "playbook '{}' attempt {} failed, will retry: {e}",
                        delivery.playbook,
                        delivery.attempts + 1
                    ),
                ),
                (Err(e), None) => (
                    "PlaybookFailed",
                    format!(
                        "playbook '{}' failed after {} attempts, gave up: {e}",
                        delivery.playbook,
                        delivery.attempts + 1
                    ),
                ),
            };
            history(&mut transaction, incident_id, "Vigil", action, &detail).await?;
        }
        transaction.commit().await.map_err(db_error("record the delivery"))
    }

    // ---- outbox

    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxRow>> {
        let rows = sqlx::query("SELECT seq, workspace, table_name, row FROM outbox ORDER BY seq LIMIT ?")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error("read the outbox"))?;
        rows.iter()
            .map(|r| {
                Ok(OutboxRow {
                    seq: r.get(0),
                    workspace: r.get(1),
                    table: r.get(2),
                    row: serde_json::from_str(r.get::<&str, _>(3)).map_err(json_error)?,
                })
            })
            .collect()
    }

    pub async fn remove_outbox(&self, through_seq: i64) -> Result<()> {
        let (_guard, mut transaction) = self.begin().await?;
        sqlx::query("DELETE FROM outbox WHERE seq <= ?")
            .bind(through_seq)
            .execute(&mut *transaction)
            .await
            .map_err(db_error("empty the outbox"))?;
        transaction.commit().await.map_err(db_error("empty the outbox"))
    }
}

// ---- row readers

fn json_column<T: serde::de::DeserializeOwned>(row: &SqliteRow, column: &str) -> Result<T> {
    serde_json::from_str(row.get::<&str, _>(column)).map_err(json_error)
}

fn rule_record(row: &SqliteRow) -> Result<RuleRecord> {
    Ok(RuleRecord {
        tenant: row.get("tenant"),
        workspace: row.get("workspace"),
        rule: json_column(row, "definition")?,
        source: row.get("source"),
        enabled: row.get("enabled"),
        created_at: row.get("created_at"),
        watermark: row.get("watermark"),
        suppressed_until: row.get("suppressed_until"),
        last_run: row.get::<Option<i64>, _>("last_run_at").map(format_time),
        last_run_seconds: row.get("last_run_seconds"),
        last_result_count: row.get("last_result_count"),
        last_alert_count: row.get("last_alert_count"),
        last_error: row.get("last_error"),
        runs: row.get("runs"),
        failures: row.get("failures"),
    })
}

fn alert_record(row: &SqliteRow) -> Result<AlertRecord> {
    let entities: Vec<Json> = json_column(row, "entities")?;
    Ok(AlertRecord {
        id: row.get("id"),
        tenant: row.get("tenant"),
        workspace: row.get("workspace"),
        rule_id: row.get("rule_id"),
        rule_name: row.get("rule_name"),
        title: row.get("title"),
        description: row.get("description"),
        severity: row.get("severity"),
        status: row.get("status"),
        classification: row.get("classification"),
        determination: row.get("determination"),
        assigned_to: row.get("assigned_to"),
        tactics: json_column(row, "tactics")?,
        techniques: json_column(row, "techniques")?,
        entities: entities.iter().filter_map(Entity::from_sentinel_json).collect(),
        custom_details: json_column(row, "custom_details")?,
        evidence: json_column(row, "evidence")?,
        result_rows: row.get("result_rows"),
        comments: json_column(row, "comments")?,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        first_event_time: row.get("first_event_time"),
        last_event_time: row.get("last_event_time"),
        resolved_at: row.get("resolved_at"),
        incident_id: row.get("incident_id"),
        suppressed_by: row.get("suppressed_by"),
        properties: json_column(row, "properties")?,
    })
}

fn incident_row(row: &SqliteRow) -> Result<IncidentRecord> {
    Ok(IncidentRecord {
        id: row.get("id"),
        tenant: row.get("tenant"),
        workspace: row.get("workspace"),
        title: row.get("title"),
        description: row.get("description"),
        severity: row.get("severity"),
        status: row.get("status"),
        classification: row.get("classification"),
        classification_reason: row.get("classification_reason"),
        classification_comment: row.get("classification_comment"),
        owner: row.get("owner"),
        labels: json_column(row, "labels")?,
        rule_ids: json_column(row, "rule_ids")?,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        closed_at: row.get("closed_at"),
        first_activity: row.get("first_activity"),
        last_activity: row.get("last_activity"),
        alerts: Vec::new(),
        comments: Vec::new(),
        history: Vec::new(),
        deliveries: Vec::new(),
    })
}

fn suppression_record(row: &SqliteRow) -> Result<SuppressionRule> {
    Ok(SuppressionRule {
        id: row.get("id"),
        name: row.get("name"),
        reason: row.get("reason"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        conditions: json_column(row, "conditions")?,
        hits: row.get("hits"),
        last_hit: row.get("last_hit"),
    })
}

fn scope_clause(scope: &Scope, filter: Option<&SqlFilter>) -> (String, Vec<SqlValue>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    if let Some(tenant) = &scope.tenant {
        clauses.push("tenant = ?".to_string());
        params.push(SqlValue::Text(tenant.clone()));
    }
    if let Some(workspaces) = &scope.workspaces {
        if workspaces.is_empty() {
            clauses.push("0".to_string());
        } else {
            clauses.push(format!("workspace IN ({})", vec!["?"; workspaces.len()].join(", ")));
            params.extend(workspaces.iter().map(|w| SqlValue::Text(w.clone())));
        }
    }
    if let Some(filter) = filter {
        clauses.push(format!("({})", filter.sql));
        params.extend(filter.params.iter().cloned());
    }
    if clauses.is_empty() {
        clauses.push("1".to_string());
    }
    (clauses.join(" AND "), params)
}

fn bind_value<'q>(
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    value: &SqlValue,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    match value {
        SqlValue::Text(text) => query.bind(text.clone()),
        SqlValue::Integer(n) => query.bind(*n),
    }
}

// ---- pieces of a run's transaction

fn draft_subject<'a>(record: &'a RuleRecord, draft: &'a AlertDraft) -> Subject<'a> {
    let mut details: Vec<(String, String)> = Vec::new();
    for (key, values) in &draft.custom_details {
        for value in values {
            details.push((key.clone(), json_text(value)));
        }
    }
    for row in &draft.evidence {
        if let Some(object) = row.as_object() {
            details.extend(object.iter().map(|(k, v)| (k.clone(), json_text(v))));
        }
    }
    Subject {
        rule_ids: vec![&record.rule.id],
        rule_names: vec![&record.rule.name],
        title: &draft.title,
        description: &draft.description,
        severity: &draft.severity,
        status: "New",
        owner: None,
        labels: Vec::new(),
        tactics: draft.tactics.iter().map(String::as_str).collect(),
        techniques: draft.techniques.iter().map(String::as_str).collect(),
        entities: &draft.entities,
        details,
    }
}

fn json_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn load_suppressions(
    transaction: &mut Transaction<'_, Sqlite>,
    workspace: &str,
    now: &str,
) -> Result<Vec<SuppressionRule>> {
    let rows = sqlx::query(
        "SELECT * FROM suppression_rules WHERE workspace = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at",
    )
    .bind(workspace)
    .bind(now)
    .fetch_all(&mut **transaction)
    .await
    .map_err(db_error("read the suppression rules"))?;
    rows.iter().map(suppression_record).collect()
}

async fn load_automation(transaction: &mut Transaction<'_, Sqlite>, workspace: &str) -> Result<Vec<AutomationRule>> {
    let rows = sqlx::query_scalar::<_, String>(
        "SELECT definition FROM automation_rules WHERE workspace = ? ORDER BY position, name",
    )
    .bind(workspace)
    .fetch_all(&mut **transaction)
    .await
    .map_err(db_error("read the automation rules"))?;
    rows.iter().map(|text| serde_json::from_str(text).map_err(json_error)).collect()
}

async fn insert_alert(
    transaction: &mut Transaction<'_, Sqlite>,
    record: &RuleRecord,
    id: &str,
    draft: &AlertDraft,
    status: &str,
    suppressed_by: Option<&str>,
    now: &str,
) -> Result<()> {
    let entities: Vec<Json> = draft.entities.iter().map(Entity::to_sentinel_json).collect();
    sqlx::query(
        "INSERT INTO alerts (id, tenant, workspace, rule_id, rule_name, title, description, severity, status,
             tactics, techniques, entities, custom_details, evidence, result_rows, created_at, updated_at,
             first_event_time, last_event_time, resolved_at, suppressed_by, properties)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(&record.tenant)
    .bind(&record.workspace)
    .bind(&record.rule.id)
    .bind(&record.rule.name)
    .bind(&draft.title)
    .bind(&draft.description)
    .bind(&draft.severity)
    .bind(status)
    .bind(json!(draft.tactics).to_string())
    .bind(json!(draft.techniques).to_string())
    .bind(Json::Array(entities).to_string())
    .bind(json!(draft.custom_details).to_string())
    .bind(Json::Array(draft.evidence.clone()).to_string())
    .bind(draft.result_rows as i64)
    .bind(now)
    .bind(now)
    .bind(draft.first_event_time.map(format_time))
    .bind(draft.last_event_time.map(format_time))
    .bind((status == "Resolved").then_some(now))
    .bind(suppressed_by)
    .bind(json!(draft.properties).to_string())
    .execute(&mut **transaction)
    .await
    .map_err(db_error("save the alert"))?;
    Ok(())
}

const SEVERITY_ORDER: &[&str] = &["Informational", "Low", "Medium", "High"];

fn severity_rank(severity: &str) -> usize {
    SEVERITY_ORDER.iter().position(|s| *s == severity).unwrap_or(0)
}

/// The key alerts of one rule must share to be grouped into one incident.
fn grouping_key(record: &RuleRecord, draft: &AlertDraft) -> Option<String> {
    let grouping = record.rule.incident.grouping.as_ref()?;
    let mut entity_keys: Vec<String> = match grouping.matching_method {
        MatchingMethod::AnyAlert => return Some(String::new()),
        MatchingMethod::AllEntities => draft.entities.iter().map(Entity::key).collect(),
        MatchingMethod::Selected => draft
            .entities
            .iter()
            .filter(|e| grouping.group_by_entities.iter().any(|t| t == e.entity_type))
            .map(Entity::key)
            .collect(),
    };
    entity_keys.sort();
    entity_keys.dedup();
    let mut key = entity_keys.join("|");
    if grouping.matching_method == MatchingMethod::Selected {
        for detail in &grouping.group_by_alert_details {
            let value = if detail == "Severity" { &draft.severity } else { &draft.title };
            key.push_str(&format!("#{detail}={value}"));
        }
        for name in &grouping.group_by_custom_details {
            let values = draft.custom_details.get(name).map(|v| json!(v).to_string()).unwrap_or_default();
            key.push_str(&format!("#{name}={values}"));
        }
    }
    Some(key)
}

/// Puts the alert in an incident: an open one of the same rule whose alerts share its grouping
/// key within the lookback (or a closed one, reopened, when the rule says so), or a new one.
/// Returns the incident and whether it was created.
async fn attach_to_incident(
    transaction: &mut Transaction<'_, Sqlite>,
    record: &RuleRecord,
    alert_id: &str,
    draft: &AlertDraft,
    now: &str,
) -> Result<(i64, bool)> {
    let key = grouping_key(record, draft);
    if let (Some(key), Some(grouping)) = (&key, &record.rule.incident.grouping) {
        let since = format_time(now_nanos() - grouping.lookback);
        let existing = sqlx::query(
            "SELECT id, status, severity FROM incidents WHERE workspace = ? AND grouping_rule = ? AND grouping_key = ?
             AND created_at >= ? AND (status != 'Closed' OR ?) ORDER BY id DESC LIMIT 1",
        )
        .bind(&record.workspace)
        .bind(&record.rule.id)
        .bind(key)
        .bind(&since)
        .bind(grouping.reopen_closed_incident)
        .fetch_optional(&mut **transaction)
        .await
        .map_err(db_error("look for an incident to group with"))?;
        if let Some(row) = existing {
            let (id, status, severity): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
            let severity = if severity_rank(&draft.severity) > severity_rank(&severity) {
                draft.severity.clone()
            } else {
                severity
            };
            let reopened = status == "Closed";
            sqlx::query(
                "UPDATE incidents SET severity = ?, status = CASE WHEN status = 'Closed' THEN 'Active' ELSE status END,
                 closed_at = CASE WHEN status = 'Closed' THEN NULL ELSE closed_at END,
                 last_activity = COALESCE(?, last_activity), updated_at = ? WHERE id = ?",
            )
            .bind(&severity)
            .bind(draft.last_event_time.map(format_time))
            .bind(now)
            .bind(id)
            .execute(&mut **transaction)
            .await
            .map_err(db_error("group the alert into its incident"))?;
            link_alert(transaction, alert_id, id).await?;
            history(transaction, id, "Vigil", "AlertAdded", &format!("alert {alert_id} '{}' grouped in", draft.title))
                .await?;
            if reopened {
                history(transaction, id, "Vigil", "Reopened", "a new alert matched this closed incident").await?;
            }
            return Ok((id, false));
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO incidents (tenant, workspace, title, description, severity, status, rule_ids, grouping_rule,
             grouping_key, created_at, updated_at, first_activity, last_activity)
         VALUES (?, ?, ?, ?, ?, 'New', ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&record.tenant)
    .bind(&record.workspace)
    .bind(&draft.title)
    .bind(&draft.description)
    .bind(&draft.severity)
    .bind(json!([record.rule.id]).to_string())
    .bind(&record.rule.id)
    .bind(&key)
    .bind(now)
    .bind(now)
    .bind(draft.first_event_time.map(format_time))
    .bind(draft.last_event_time.map(format_time))
    .execute(&mut **transaction)
    .await
    .map_err(db_error("create the incident"))?;
    let id = inserted.last_insert_rowid();
    link_alert(transaction, alert_id, id).await?;
    history(
        transaction,
        id,
        "Vigil",
        "Created",
        &format!("created by rule '{}' from alert {alert_id}", record.rule.name),
    )
    .await?;
    Ok((id, true))
}

async fn link_alert(transaction: &mut Transaction<'_, Sqlite>, alert_id: &str, incident_id: i64) -> Result<()> {
    sqlx::query("UPDATE alerts SET incident_id = ? WHERE id = ?")
        .bind(incident_id)
        .bind(alert_id)
        .execute(&mut **transaction)
        .await
        .map_err(db_error("link the alert to its incident"))?;
    Ok(())
}

async fn history(
    transaction: &mut Transaction<'_, Sqlite>,
    incident_id: i64,
    actor: &str,
    action: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO incident_history (incident_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)")
        .bind(incident_id)
        .bind(format_time(now_nanos()))
        .bind(actor)
        .bind(action)
        .bind(detail)
        .execute(&mut **transaction)
        .await
        .map_err(db_error("record the incident's history"))?;
    Ok(())
}

/// Applies a change, one history entry per changed field. Returns whether anything changed.
async fn apply_incident_change(
    transaction: &mut Transaction<'_, Sqlite>,
    id: i64,
    change: &IncidentChange,
    actor: &str,
) -> Result<bool> {
    let row = sqlx::query("SELECT * FROM incidents WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut **transaction)
        .await
        .map_err(db_error("read the incident"))?;
    let Some(mut incident) = row.as_ref().map(incident_row).transpose()? else {
        return Err(DetectionError::NotFound(format!("incident {id} does not exist")));
    };
    let now = format_time(now_nanos());
    // (action, detail) for the history.
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut set = |field: &'static str, current: &mut Option<String>, new: Option<String>| {
        if *current != new {
            entries.push((
                format!("{field}Changed"),
                format!("{} → {}", current.as_deref().unwrap_or("(none)"), new.as_deref().unwrap_or("(none)")),
            ));
            *current = new;
        }
    };
    if let Some(status) = &change.status {
        let mut current = Some(incident.status.clone());
        set("Status", &mut current, Some(status.clone()));
        incident.status = status.clone();
        if status == "Closed" && incident.closed_at.is_none() {
            incident.closed_at = Some(now.clone());
        } else if status != "Closed" {
            incident.closed_at = None;
        }
    }
    if let Some(severity) = &change.severity {
        let mut current = Some(incident.severity.clone());
        set("Severity", &mut current, Some(severity.clone()));
        incident.severity = severity.clone();
    }
    if let Some(owner) = &change.owner {
        set("Owner", &mut incident.owner, owner.clone());
    }
    if change.classification.is_some() {
        set("Classification", &mut incident.classification, change.classification.clone());
    }
    if change.classification_reason.is_some() {
        set("ClassificationReason", &mut incident.classification_reason, change.classification_reason.clone());
    }
    if change.classification_comment.is_some() {
        set("ClassificationComment", &mut incident.classification_comment, change.classification_comment.clone());
    }
    let mut labels = change.labels.clone().unwrap_or(incident.labels.clone());
    for label in change.add_labels.iter().flatten() {
        if !labels.contains(label) {
            labels.push(label.clone());
        }
    }
    if labels != incident.labels {
        entries.push(("LabelsChanged".to_string(), format!("{} → {}", incident.labels.join(", "), labels.join(", "))));
        incident.labels = labels;
    }
    if let Some(comment) = &change.comment {
        sqlx::query("INSERT INTO incident_comments (incident_id, author, message, created_at) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(actor)
            .bind(comment)
            .bind(&now)
            .execute(&mut **transaction)
            .await
            .map_err(db_error("add the comment"))?;
        entries.push(("CommentAdded".to_string(), comment.clone()));
    }
    if entries.is_empty() {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE incidents SET status = ?, severity = ?, owner = ?, classification = ?, classification_reason = ?,
         classification_comment = ?, labels = ?, closed_at = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&incident.status)
    .bind(&incident.severity)
    .bind(&incident.owner)
    .bind(&incident.classification)
    .bind(&incident.classification_reason)
    .bind(&incident.classification_comment)
    .bind(json!(incident.labels).to_string())
    .bind(&incident.closed_at)
    .bind(&now)
    .bind(id)
    .execute(&mut **transaction)
    .await
    .map_err(db_error("update the incident"))?;
    for (action, detail) in entries {
        history(transaction, id, actor, &action, &detail).await?;
    }
    Ok(true)
}

/// Runs the automation rules for a trigger, in order, on an incident or an alert: applies
/// their changes and queues their playbooks. Returns the deliveries queued.
async fn run_automation(
    transaction: &mut Transaction<'_, Sqlite>,
    rules: &[AutomationRule],
    on: TriggersOn,
    when: TriggersWhen,
    incident_id: Option<i64>,
    alert_id: Option<&str>,
) -> Result<usize> {
    let mut queued = 0;
    for rule in rules.iter().filter(|r| r.enabled && r.triggers_on == on && r.triggers_when == when) {
        // Re-read for each rule: an earlier rule's actions change what later ones see.
        let (incident, alerts) = match (incident_id, alert_id) {
            (Some(id), _) => {
                let row = sqlx::query("SELECT * FROM incidents WHERE id = ?")
                    .bind(id)
                    .fetch_one(&mut **transaction)
                    .await
                    .map_err(db_error("read the incident"))?;
                let alerts = sqlx::query("SELECT * FROM alerts WHERE incident_id = ?")
                    .bind(id)
                    .fetch_all(&mut **transaction)
                    .await
                    .map_err(db_error("read the incident's alerts"))?;
                (Some(incident_row(&row)?), alerts.iter().map(alert_record).collect::<Result<Vec<_>>>()?)
            }
            (None, Some(id)) => {
                let row = sqlx::query("SELECT * FROM alerts WHERE id = ?")
                    .bind(id)
                    .fetch_one(&mut **transaction)
                    .await
                    .map_err(db_error("read the alert"))?;
                (None, vec![alert_record(&row)?])
            }
            (None, None) => return Ok(queued),
        };
        let entities: Vec<Entity> = alerts.iter().flat_map(|a| a.entities.clone()).collect();
        let mut details = Vec::new();
        for alert in &alerts {
            if let Some(object) = alert.custom_details.as_object() {
                for (key, values) in object {
                    for value in values.as_array().into_iter().flatten() {
                        details.push((key.clone(), json_text(value)));
                    }
                }
            }
        }
        let first = alerts.first();
        let subject = Subject {
            rule_ids: alerts.iter().map(|a| a.rule_id.as_str()).collect(),
            rule_names: alerts.iter().map(|a| a.rule_name.as_str()).collect(),
            title: incident.as_ref().map(|i| i.title.as_str()).or(first.map(|a| a.title.as_str())).unwrap_or_default(),
            description: incident
                .as_ref()
                .map(|i| i.description.as_str())
                .or(first.map(|a| a.description.as_str()))
                .unwrap_or_default(),
            severity: incident
                .as_ref()
                .map(|i| i.severity.as_str())
                .or(first.map(|a| a.severity.as_str()))
                .unwrap_or_default(),
            status: incident
                .as_ref()
                .map(|i| i.status.as_str())
                .or(first.map(|a| a.status.as_str()))
                .unwrap_or_default(),
            owner: incident.as_ref().and_then(|i| i.owner.as_deref()),
            labels: incident.as_ref().map(|i| i.labels.iter().map(String::as_str).collect()).unwrap_or_default(),
            tactics: alerts.iter().flat_map(|a| a.tactics.iter().map(String::as_str)).collect(),
            techniques: alerts.iter().flat_map(|a| a.techniques.iter().map(String::as_str)).collect(),
            entities: &entities,
            details,
        };
        if !rule.conditions.iter().all(|c| c.holds(&subject)) {
            continue;
        }
        let actor = format!("Automation rule '{}'", rule.name);
        let workspace =
            incident.as_ref().map(|i| i.workspace.clone()).or(first.map(|a| a.workspace.clone())).unwrap_or_default();
        let mut change = IncidentChange::default();
        for action in &rule.actions {
            match action {
                Action::AssignOwner(owner) => change.owner = Some(Some(owner.clone())),
                Action::ChangeStatus(status) => {
                    change.status = Some(status.status.clone());
                    change.classification = status.classification.clone().or(change.classification);
                    change.classification_reason =
                        status.classification_reason.clone().or(change.classification_reason);
                    change.classification_comment = status.comment.clone().or(change.classification_comment);
                }
                Action::ChangeSeverity(severity) => change.severity = Some(severity.clone()),
                Action::AddLabels(labels) => {
                    change.add_labels.get_or_insert_with(Vec::new).extend(labels.iter().cloned())
                }
                Action::RunPlaybook(playbook) => {
                    let event = match (on, when) {
                        (TriggersOn::Incidents, TriggersWhen::Created) => "IncidentCreated",
                        (TriggersOn::Incidents, TriggersWhen::Updated) => "IncidentUpdated",
                        (TriggersOn::Alerts, TriggersWhen::Created) => "AlertCreated",
                        (TriggersOn::Alerts, TriggersWhen::Updated) => "AlertUpdated",
                    };
                    sqlx::query(
                        "INSERT INTO deliveries (workspace, playbook, incident_id, alert_id, event, status, next_attempt,
                         created_at) VALUES (?, ?, ?, ?, ?, 'Pending', ?, ?)",
                    )
                    .bind(&workspace)
                    .bind(playbook)
                    .bind(incident_id)
                    .bind(alert_id)
                    .bind(event)
                    .bind(now_nanos())
                    .bind(format_time(now_nanos()))
                    .execute(&mut **transaction)
                    .await
                    .map_err(db_error("queue the playbook"))?;
                    if let Some(id) = incident_id {
                        history(transaction, id, &actor, "PlaybookQueued", &format!("playbook '{playbook}' queued"))
                            .await?;
                    }
                    queued += 1;
                }
            }
        }
        if let Some(id) = incident_id {
            apply_incident_change(transaction, id, &change, &actor).await?;
        }
    }
    Ok(queued)
}

async fn outbox_alert(transaction: &mut Transaction<'_, Sqlite>, alert_id: &str) -> Result<()> {
    let row = sqlx::query("SELECT * FROM alerts WHERE id = ?")
        .bind(alert_id)
        .fetch_one(&mut **transaction)
        .await
        .map_err(db_error("read the alert"))?;
    let alert = alert_record(&row)?;
    let entities: Vec<Json> = alert.entities.iter().map(Entity::to_sentinel_json).collect();
    let mut extended = serde_json::Map::new();
    extended.insert("Analytic Rule Ids".to_string(), json!(json!([alert.rule_id]).to_string()));
    extended.insert("Analytic Rule Name".to_string(), json!(alert.rule_name));
    extended.insert("Query Result Count".to_string(), json!(alert.result_rows.to_string()));
    if let Some(details) = alert.custom_details.as_object().filter(|d| !d.is_empty()) {
        extended.insert("Custom Details".to_string(), json!(Json::Object(details.clone()).to_string()));
    }
    let property =
        |name: &str, default: &str| alert.properties.get(name).cloned().unwrap_or_else(|| default.to_string());
    let mut row = json!({
        "TimeGenerated": alert.updated_at,
        "DisplayName": alert.title,
        "AlertName": alert.title,
        "AlertSeverity": alert.severity,
        "Description": alert.description,
        "ProviderName": property("ProviderName", "ASI Scheduled Alerts"),
        "VendorName": "Microsoft",
        "ProductName": property("ProductName", "Azure Sentinel"),
        "ProductComponentName": property("ProductComponentName", "Scheduled Alerts"),
        "AlertType": format!("{}_{}", alert.workspace, alert.rule_id),
        "SystemAlertId": alert.id,
        "VendorOriginalId": alert.id,
        "Status": alert.status,
        "ConfidenceLevel": property("ConfidenceLevel", "Unknown"),
        "StartTime": alert.first_event_time.clone().unwrap_or(alert.created_at.clone()),
        "EndTime": alert.last_event_time.clone().unwrap_or(alert.created_at.clone()),
        "ProcessingEndTime": alert.created_at,
        "Entities": Json::Array(entities).to_string(),
        "ExtendedProperties": Json::Object(extended).to_string(),
        "Tactics": alert.tactics.join(","),
        "Techniques": json!(alert.techniques).to_string(),
        "CompromisedEntity": alert.entities.first().map(Entity::display_value).unwrap_or_default(),
        "IsIncident": false,
        "Type": "SecurityAlert",
    });
    for name in ["AlertLink", "RemediationSteps", "ExtendedLinks", "Techniques", "SubTechniques"] {
        if let Some(value) = alert.properties.get(name) {
            row[name] = json!(value);
        }
    }
    if let Some(score) = alert.properties.get("ConfidenceScore").and_then(|s| s.trim().parse::<f64>().ok()) {
        row["ConfidenceScore"] = json!(score);
    }
    push_outbox(transaction, &alert.workspace, "SecurityAlert", &row).await
}

async fn outbox_incident(transaction: &mut Transaction<'_, Sqlite>, incident_id: i64) -> Result<()> {
    let row = sqlx::query("SELECT * FROM incidents WHERE id = ?")
        .bind(incident_id)
        .fetch_one(&mut **transaction)
        .await
        .map_err(db_error("read the incident"))?;
    let incident = incident_row(&row)?;
    let alert_ids: Vec<String> = sqlx::query_scalar("SELECT id FROM alerts WHERE incident_id = ? ORDER BY created_at")
        .bind(incident_id)
        .fetch_all(&mut **transaction)
        .await
        .map_err(db_error("read the incident's alerts"))?;
    let row = json!({
        "TimeGenerated": incident.updated_at,
        "TenantId": incident.tenant,
        "IncidentName": format!("{}-{}", incident.workspace, incident.id),
        "IncidentNumber": incident.id,
        "Title": incident.title,
        "Description": incident.description,
        "Severity": incident.severity,
        "Status": incident.status,
        "Classification": incident.classification,
        "ClassificationReason": incident.classification_reason,
        "ClassificationComment": incident.classification_comment,
        "Owner": {"assignedTo": incident.owner, "email": incident.owner, "userPrincipalName": incident.owner},
        "ProviderName": "Azure Sentinel",
        "ProviderIncidentId": incident.id.to_string(),
        "CreatedTime": incident.created_at,
        "LastModifiedTime": incident.updated_at,
        "FirstActivityTime": incident.first_activity,
        "LastActivityTime": incident.last_activity,
        "ClosedTime": incident.closed_at,
        "AlertIds": alert_ids,
        "RelatedAnalyticRuleIds": incident.rule_ids,
        "Labels": incident.labels.iter().map(|l| json!({"labelName": l, "labelType": "User"})).collect::<Vec<_>>(),
        "AdditionalData": {"alertsCount": alert_ids.len()},
        "Type": "SecurityIncident",
    });
    push_outbox(transaction, &incident.workspace, "SecurityIncident", &row).await
}

async fn push_outbox(
    transaction: &mut Transaction<'_, Sqlite>,
    workspace: &str,
    table: &str,
    row: &Json,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox (workspace, table_name, row) VALUES (?, ?, ?)")
        .bind(workspace)
        .bind(table)
        .bind(row.to_string())
        .execute(&mut **transaction)
        .await
        .map_err(db_error("queue a table row"))?;
    Ok(())
}

/// The kinds of JSON document a workspace keeps, each in its own table of the same shape.
#[derive(Clone, Copy)]
enum Document {
    Workbook,
    SavedQuery,
}

impl Document {
    fn table(self) -> &'static str {
        match self {
            Document::Workbook => "workbooks",
            Document::SavedQuery => "saved_queries",
        }
    }

    fn saving(self) -> &'static str {
        match self {
            Document::Workbook => "save the workbook",
            Document::SavedQuery => "save the saved query",
        }
    }

    fn reading(self) -> &'static str {
        match self {
            Document::Workbook => "read the workbooks",
            Document::SavedQuery => "read the saved queries",
        }
    }
}
