//! Detection over REST: Defender-compatible alerts and incidents APIs, analytics rules,
//! automation and suppression rules; and the background work that feeds the `SecurityAlert`
//! and `SecurityIncident` tables from the detection database's outbox.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use tokio::sync::watch;
use vigil_control::{Role, Workspace};
use vigil_detect::api::{self, ALERT_PROPERTIES, INCIDENT_ORDER_PROPERTIES, INCIDENT_PROPERTIES};
use vigil_detect::automation::parse_automation;
use vigil_detect::state::{Page, RuleRecord};
use vigil_detect::suppression::NewSuppression;
use vigil_detect::{DetectionError, Scope, parse_rule, validate_query};

use crate::admin::workspace_for;
use crate::error::ApiError;
use crate::hunting::parse_body;
use crate::records::{Destination, coerce, records_to_batch};
use crate::state::AppState;
use crate::tokens::{DEFENDER_AUDIENCES, MANAGEMENT_AUDIENCE, Principal};

/// `$top` of the alerts and incidents APIs at most, as Defender allows.
const MAX_TOP: i64 = 10_000;

impl From<DetectionError> for ApiError {
    fn from(error: DetectionError) -> ApiError {
        match error {
            DetectionError::Invalid(message) => ApiError::bad_request("InvalidRequest", message),
            DetectionError::NotFound(message) => ApiError::not_found("NotFound", message),
            DetectionError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "Conflict", message),
            // The server's faults: the cause goes to the log, under the request id the client
            // is given; the client learns only that it may retry.
            DetectionError::Open(_) | DetectionError::Storage { .. } => {
                tracing::error!(error = %error, "detection database failed");
                ApiError::unavailable("The detection database is unavailable; retry later")
            }
            DetectionError::Corrupt(_) => {
                tracing::error!(error = %error, "detection state cannot be read");
                ApiError::internal("Stored detection state cannot be read; give the request id to an administrator")
            }
        }
    }
}

/// Tokens for Defender's API audiences (what SIEM connectors ask for) or for management.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let mut audiences: Vec<&str> = DEFENDER_AUDIENCES.to_vec();
    audiences.push(MANAGEMENT_AUDIENCE);
    state.authenticate(headers, &audiences, true).await
}

/// The caller's tenant and the workspaces where it holds `role`.
async fn scope_for(state: &AppState, principal: &Principal, role: Role) -> Result<Scope, ApiError> {
    let mut workspaces = Vec::new();
    for workspace in state.control.workspaces(Some(&principal.tenant_id)).await? {
        if state.allowed(principal, role, &workspace.tenant_id, &workspace.id, None).await? {
            workspaces.push(workspace.id);
        }
    }
    Ok(Scope::tenant(&principal.tenant_id, Some(workspaces)))
}

#[derive(Deserialize)]
pub struct ListParameters {
    #[serde(rename = "$filter")]
    filter: Option<String>,
    #[serde(rename = "$top")]
    top: Option<String>,
    #[serde(rename = "$skip")]
    skip: Option<String>,
    #[serde(rename = "$expand")]
    expand: Option<String>,
    #[serde(rename = "$orderby")]
    order_by: Option<String>,
    #[serde(rename = "$count")]
    count: Option<String>,
}

impl ListParameters {
    fn page(&self, properties: &[vigil_detect::odata::Property]) -> Result<Page, ApiError> {
        let number = |name: &str, text: &Option<String>, default: i64, max: i64| -> Result<i64, ApiError> {
            match text {
                None => Ok(default),
                Some(text) => match text.trim().parse::<i64>() {
                    Ok(n) if (0..=max).contains(&n) => Ok(n),
                    _ => Err(ApiError::bad_request(
                        "InvalidQueryParameter",
                        format!("{name} must be a whole number from 0 to {max}, not '{text}'"),
                    )),
                },
            }
        };
        let filter = match &self.filter {
            Some(text) if !text.trim().is_empty() => Some(
                vigil_detect::odata::filter_to_sql(text, properties)
                    .map_err(|e| ApiError::bad_request("InvalidFilter", e.to_string()))?,
            ),
            _ => None,
        };
        Ok(Page {
            filter,
            order_by: None,
            top: number("$top", &self.top, MAX_TOP, MAX_TOP)?,
            skip: number("$skip", &self.skip, 0, i64::MAX)?,
        })
    }

    /// The page with `$orderby` over `properties` (only the incidents list sorts).
    fn ordered_page(
        &self,
        filter: &[vigil_detect::odata::Property],
        order: &[vigil_detect::odata::Property],
    ) -> Result<Page, ApiError> {
        let mut page = self.page(filter)?;
        page.order_by = match self.order_by.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                vigil_detect::odata::order_by_to_sql(text, order)
                    .map_err(|e| ApiError::bad_request("InvalidQueryParameter", format!("$orderby: {}", e.message)))?,
            ),
        };
        Ok(page)
    }

    fn wants_count(&self) -> Result<bool, ApiError> {
        match self.count.as_deref().map(str::trim) {
            None | Some("") | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::bad_request(
                "InvalidQueryParameter",
                format!("$count must be true or false, not '{other}'"),
            )),
        }
    }

    fn expands_evidence(&self) -> Result<bool, ApiError> {
        match self.expand.as_deref().map(str::trim) {
            None | Some("") => Ok(false),
            Some(e) if e.eq_ignore_ascii_case("evidence") => Ok(true),
            Some(other) => Err(ApiError::bad_request(
                "InvalidQueryParameter",
                format!("$expand supports 'evidence', not '{other}'"),
            )),
        }
    }
}

fn odata_list(context: &str, value: Vec<Json>) -> Response {
    axum::Json(json!({"@odata.context": context, "value": value})).into_response()
}

pub async fn list_alerts(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(parameters): Query<ListParameters>,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let page = parameters.page(ALERT_PROPERTIES)?;
    let evidence = parameters.expands_evidence()?;
    let scope = scope_for(&state, &principal, Role::Reader).await?;
    let alerts = state.detection.alerts(&scope, &page).await?;
    let origin = state.origin();
    Ok(odata_list(
        &format!("{origin}/api/$metadata#Alerts"),
        alerts.iter().map(|a| api::alert_json(a, evidence)).collect(),
    ))
}

pub async fn get_alert(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(parameters): Query<ListParameters>,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let scope = scope_for(&state, &principal, Role::Reader).await?;
    let alert = state.detection.alert(&scope, &id).await?.ok_or_else(|| alert_not_found(&id))?;
    Ok(axum::Json(api::alert_json(&alert, parameters.expands_evidence()?)).into_response())
}

fn alert_not_found(id: &str) -> ApiError {
    ApiError::not_found("NotFound", format!("Alert '{id}' was not found."))
}

fn incident_not_found(id: i64) -> ApiError {
    ApiError::not_found("NotFound", format!("Incident {id} was not found."))
}

fn json_body(body: &Bytes) -> Result<Json, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("InvalidRequestBody", format!("the body is not JSON: {e}")))
}

pub async fn patch_alert(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let readable = scope_for(&state, &principal, Role::Reader).await?;
    let alert = state.detection.alert(&readable, &id).await?.ok_or_else(|| alert_not_found(&id))?;
    let change =
        api::parse_alert_patch(&json_body(&body)?).map_err(|e| ApiError::bad_request("InvalidRequestBody", e))?;
    if !state.allowed(&principal, Role::Responder, &alert.tenant, &alert.workspace, None).await? {
        return Err(ApiError::forbidden("Changing an alert takes the Responder role on its workspace."));
    }
    state.detection.update_alert(&id, &change, &principal.name).await?;
    let updated = state.detection.alert(&readable, &id).await?.ok_or_else(|| alert_not_found(&id))?;
    Ok(axum::Json(api::alert_json(&updated, false)).into_response())
}

pub async fn list_incidents(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(parameters): Query<ListParameters>,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let page = parameters.ordered_page(INCIDENT_PROPERTIES, INCIDENT_ORDER_PROPERTIES)?;
    let scope = scope_for(&state, &principal, Role::Reader).await?;
    let incidents = state.detection.incidents(&scope, &page).await?;
    let origin = state.origin();
    let mut list = json!({
        "@odata.context": format!("{origin}/api/$metadata#Incidents"),
        "value": incidents.iter().map(api::incident_json).collect::<Vec<_>>(),
    });
    if parameters.wants_count()? {
        list["@odata.count"] = json!(state.detection.count_incidents(&scope, &page).await?);
    }
    Ok(axum::Json(list).into_response())
}

fn incident_id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request("InvalidIncidentId", format!("'{text}' is not an incident id (a number)")))
}

pub async fn get_incident(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = incident_id(&id)?;
    let principal = caller(&state, &headers).await?;
    let scope = scope_for(&state, &principal, Role::Reader).await?;
    let incident = state.detection.incident(&scope, id).await?.ok_or_else(|| incident_not_found(id))?;
    Ok(axum::Json(api::incident_json(&incident)).into_response())
}

pub async fn patch_incident(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = incident_id(&id)?;
    let principal = caller(&state, &headers).await?;
    let readable = scope_for(&state, &principal, Role::Reader).await?;
    let incident = state.detection.incident(&readable, id).await?.ok_or_else(|| incident_not_found(id))?;
    let change =
        api::parse_incident_patch(&json_body(&body)?).map_err(|e| ApiError::bad_request("InvalidRequestBody", e))?;
    if !state.allowed(&principal, Role::Responder, &incident.tenant, &incident.workspace, None).await? {
        return Err(ApiError::forbidden("Changing an incident takes the Responder role on its workspace."));
    }
    state.detection.update_incident(id, &change, &principal.name).await?;
    let updated = state.detection.incident(&readable, id).await?.ok_or_else(|| incident_not_found(id))?;
    Ok(axum::Json(api::incident_json(&updated)).into_response())
}

#[derive(Deserialize)]
pub struct NewComment {
    comment: String,
}

pub async fn add_incident_comment(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let id = incident_id(&id)?;
    let body: NewComment = parse_body(&body)?;
    if body.comment.trim().is_empty() {
        return Err(ApiError::bad_request("InvalidRequestBody", "the comment is empty"));
    }
    let readable = scope_for(&state, &principal, Role::Reader).await?;
    let incident = state.detection.incident(&readable, id).await?.ok_or_else(|| incident_not_found(id))?;
    if !state.allowed(&principal, Role::Responder, &incident.tenant, &incident.workspace, None).await? {
        return Err(ApiError::forbidden("Commenting takes the Responder role on the incident's workspace."));
    }
    let change = vigil_detect::state::IncidentChange { comment: Some(body.comment), ..Default::default() };
    state.detection.update_incident(id, &change, &principal.name).await?;
    let updated = state.detection.incident(&readable, id).await?.ok_or_else(|| incident_not_found(id))?;
    Ok((StatusCode::CREATED, axum::Json(api::incident_json(&updated)["comments"].clone())).into_response())
}

// ---- rules, automation, suppression (management)

fn rule_json(record: &RuleRecord) -> Json {
    let mut value = serde_json::to_value(record).unwrap_or_default();
    value["kind"] = json!(record.rule.kind.as_str());
    value
}

fn rule_problems(error: vigil_detect::RuleError) -> ApiError {
    ApiError::bad_request("InvalidRule", error.to_string()).with_inner(json!({"problems": error.problems}))
}

/// Parses and validates a rule against the workspace's tables as the store has them.
async fn checked_rule(state: &AppState, workspace: &Workspace, text: &str) -> Result<vigil_detect::Rule, ApiError> {
    let rule = parse_rule("request body", text).map_err(rule_problems)?;
    let catalog = state.catalog(&workspace.id).await?;
    validate_query(&state.transform_engine, &rule, catalog.as_ref(), "request body").map_err(rule_problems)?;
    Ok(rule)
}

pub async fn list_rules(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let rules = state.detection.rules(Some(&workspace.id)).await?;
    Ok(axum::Json(rules.iter().map(rule_json).collect::<Vec<_>>()).into_response())
}

/// `POST .../rules` with a rule's YAML (or JSON): creates or replaces it by its id.
pub async fn import_rule(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("InvalidRule", "the body is not UTF-8"))?;
    let rule = checked_rule(&state, &workspace, text).await?;
    let record = state.detection.put_rule(&workspace.tenant_id, &workspace.id, &rule, text, None).await?;
    Ok((StatusCode::CREATED, axum::Json(rule_json(&record))).into_response())
}

pub async fn get_rule(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let record = state.detection.rule(&workspace.id, &id).await?.ok_or_else(|| rule_not_found(&id))?;
    let wants_yaml = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("yaml"));
    if wants_yaml {
        return Ok(([(header::CONTENT_TYPE, "application/yaml")], record.source).into_response());
    }
    Ok(axum::Json(rule_json(&record)).into_response())
}

fn rule_not_found(id: &str) -> ApiError {
    ApiError::not_found("NotFound", format!("Rule '{id}' was not found."))
}

#[derive(Deserialize)]
pub struct RuleChange {
    enabled: bool,
}

pub async fn patch_rule(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    let change: RuleChange = parse_body(&body)?;
    if !state.detection.set_rule_enabled(&workspace.id, &id, change.enabled).await? {
        return Err(rule_not_found(&id));
    }
    let record = state.detection.rule(&workspace.id, &id).await?.ok_or_else(|| rule_not_found(&id))?;
    Ok(axum::Json(rule_json(&record)).into_response())
}

pub async fn delete_rule(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    if !state.detection.delete_rule(&workspace.id, &id).await? {
        return Err(rule_not_found(&id));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct RuleTest {
    rule: String,
    from: String,
    to: String,
}

/// `POST .../rules/test`: runs a rule over history (by `TimeGenerated`) and returns the alerts
/// it would have raised, without storing anything.
pub async fn test_rule(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let test: RuleTest = parse_body(&body)?;
    let rule = checked_rule(&state, &workspace, &test.rule).await?;
    let bound = |text: &str| {
        vigil_detect::time::parse_time(text)
            .ok_or_else(|| ApiError::bad_request("InvalidRequestBody", format!("'{text}' is not an RFC 3339 time")))
    };
    let (from, to) = (bound(&test.from)?, bound(&test.to)?);
    let session = state.query_session(&workspace.tenant_id).await?;
    let catalog = vigil_catalog::time_range_catalog(state.catalog(&workspace.id).await?, from, to);
    let outcome = state
        .query_runtime
        .run(async move { vigil_detect::scheduler::test_rule(&session.engine, &rule, catalog, to).await })
        .await?;
    let (rows, drafts) = outcome.map_err(|e| ApiError::bad_request("QueryFailed", e))?;
    Ok(axum::Json(
        json!({"resultCount": rows, "alerts": drafts.iter().map(vigil_detect::alert::draft_json).collect::<Vec<_>>()}),
    )
    .into_response())
}

/// `POST .../rules/{id}/triggerRuleRun`, Sentinel's run on demand: the rule runs once now (or
/// at `executionTimeUtc`, not later than now) over the `queryPeriod` before it, and its alerts
/// and incidents are raised as a scheduled run raises them; its schedule does not move.
pub async fn trigger_rule_run(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    let record = state.detection.rule(&workspace.id, &id).await?.ok_or_else(|| rule_not_found(&id))?;
    let request: Json = if body.iter().all(u8::is_ascii_whitespace) { json!({}) } else { parse_body(&body)? };
    let requested = request.get("properties").unwrap_or(&request).get("executionTimeUtc");
    let now = vigil_detect::time::now_nanos();
    let execution_time = match requested {
        None | Some(Json::Null) => now,
        Some(value) => value.as_str().and_then(vigil_detect::time::parse_time).ok_or_else(|| {
            ApiError::bad_request(
                "InvalidRequestBody",
                format!("properties.executionTimeUtc: {value} is not an RFC 3339 time"),
            )
        })?,
    };
    if execution_time > now {
        return Err(ApiError::bad_request(
            "InvalidRequestBody",
            "properties.executionTimeUtc: a run on demand cannot be in the future",
        ));
    }
    let session = state.query_session(&workspace.tenant_id).await?;
    let definitions = state.definitions(&workspace.id).await?;
    let (store, detection, ran) = (state.store.clone(), state.detection.clone(), record.clone());
    let report = state
        .query_runtime
        .run(async move {
            let engine = &session.engine;
            vigil_detect::scheduler::run_on_demand(engine, &store, &detection, definitions, &ran, execution_time).await
        })
        .await?
        .map_err(|e| ApiError::bad_request("RuleRunFailed", e))?;
    Ok(axum::Json(json!({
        "ruleId": record.rule.id,
        "executionTimeUtc": vigil_detect::time::format_time(execution_time),
        "alerts": report.alerts,
        "suppressed": report.suppressed,
        "incidentsCreated": report.incidents_created,
        "incidentsUpdated": report.incidents_updated,
    }))
    .into_response())
}

/// `POST .../automation` with an automation document (playbooks and automation rules).
pub async fn import_automation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("InvalidAutomation", "the body is not UTF-8"))?;
    let known: Vec<String> = state.detection.playbooks(&workspace.id).await?.into_iter().map(|p| p.name).collect();
    let document = parse_automation(text, &known).map_err(|e| ApiError::bad_request("InvalidAutomation", e))?;
    // A file path would let a caller make the server read any file it can; such playbooks are
    // set up on the server's machine (`vigil automation import`), where paths are the admin's.
    if let Some(playbook) = document.playbooks.iter().find(|p| p.target.reads_local_files()) {
        return Err(ApiError::bad_request(
            "InvalidAutomation",
            format!(
                "playbook '{}' names a file on the server (caCertFile); import it with `vigil automation import` on the server's machine",
                playbook.name
            ),
        ));
    }
    for playbook in &document.playbooks {
        state.detection.put_playbook(&workspace.id, playbook).await?;
    }
    for rule in &document.automation_rules {
        state.detection.put_automation_rule(&workspace.id, rule).await?;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"playbooks": document.playbooks.len(), "automationRules": document.automation_rules.len()})),
    )
        .into_response())
}

pub async fn list_automation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let playbooks: Vec<Json> = state
        .detection
        .playbooks(&workspace.id)
        .await?
        .into_iter()
        .map(|mut playbook| {
            // Credentials are write-only: a listing shows that one is set, never its value.
            playbook.target = playbook.target.redacted();
            serde_json::to_value(playbook).unwrap_or_default()
        })
        .collect();
    let rules = state.detection.automation_rules(&workspace.id).await?;
    Ok(axum::Json(json!({"playbooks": playbooks, "automationRules": rules})).into_response())
}

pub async fn list_suppressions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    Ok(axum::Json(state.detection.suppressions(&workspace.id).await?).into_response())
}

pub async fn add_suppression(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Responder).await?;
    let new: NewSuppression = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("InvalidSuppressionRule", format!("not a suppression rule: {e}")))?;
    new.check().map_err(|e| ApiError::bad_request("InvalidSuppressionRule", e))?;
    let rule = state.detection.add_suppression(&workspace.id, &new, &principal.name).await?;
    Ok((StatusCode::CREATED, axum::Json(rule)).into_response())
}

pub async fn delete_suppression(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Responder).await?;
    if !state.detection.delete_suppression(&workspace.id, &id).await? {
        return Err(ApiError::not_found("NotFound", format!("Suppression rule '{id}' was not found.")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- the outbox

/// Appends the outbox's `SecurityAlert` and `SecurityIncident` rows to the store until
/// `shutdown`, then once more. A crash between an append and the outbox's deletion appends
/// those rows again on restart: these tables are at least once, the alerts API exactly once.
pub async fn pump_outbox(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = append_outbox(&state).await {
            tracing::error!("cannot append alerts and incidents to their tables: {e}");
        }
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = state.detection.outbox_filled.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

async fn append_outbox(state: &AppState) -> Result<(), String> {
    loop {
        let rows = state.detection.outbox(1000).await.map_err(|e| e.to_string())?;
        let Some(last) = rows.last().map(|r| r.seq) else { return Ok(()) };
        let mut groups: BTreeMap<(String, String), Vec<Json>> = BTreeMap::new();
        for row in rows {
            groups.entry((row.workspace, row.table)).or_default().push(row.row);
        }
        let mut batches = Vec::with_capacity(groups.len());
        for ((workspace, table), rows) in &groups {
            let Some((columns, _)) = state.destination_columns(workspace, table, &[]).await.map_err(|e| e.message)?
            else {
                tracing::warn!(%workspace, %table, "the table is not defined; keeping its rows");
                return Ok(());
            };
            let body = serde_json::to_vec(rows).map_err(|e| e.to_string())?;
            let batch = records_to_batch(&columns, &body).map_err(|e| format!("{table}: {e:?}"))?;
            let destination = Destination {
                table,
                columns: &columns,
                workspace_id: workspace,
                now: chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
                defender_timestamp: false,
            };
            let batch = coerce(&columns, &batch, &destination).map_err(|e| format!("{table}: {e}"))?;
            batches.push((workspace.as_str(), table.as_str(), batch));
        }
        // One transaction, so that a failure part-way does not append some tables twice.
        state.store.append_all(batches).await.map_err(|e| e.to_string())?;
        state.detection.remove_outbox(last).await.map_err(|e| e.to_string())?;
    }
}
