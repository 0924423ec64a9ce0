//! Administration over REST, the same operations as the CLI's admin commands: workspaces,
//! applications and their roles, tables, DCRs. Owners manage applications and workspaces;
//! Contributors manage tables and DCRs; Readers list.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use vigil_control::{Dcr, Role, Scope, Workspace};

use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::{MANAGEMENT_AUDIENCE, Principal};

/// What `vigil dcr create` and `PUT .../dcrs/{name}` print: what a source needs to send.
pub fn dcr_summary(dcr: &Dcr, origin: &str) -> Json {
    let streams: Vec<Json> = dcr
        .definition
        .streams
        .keys()
        .map(|stream| {
            json!({
                "stream": stream,
                "tables": dcr.definition.flows_of(stream).map(|f| f.table.clone()).collect::<Vec<_>>(),
                "url": format!("{origin}/dataCollectionRules/{}/streams/{stream}?api-version=2023-01-01", dcr.immutable_id),
            })
        })
        .collect();
    json!({
        "immutable_id": dcr.immutable_id,
        "name": dcr.definition.name,
        "workspace_id": dcr.workspace_id,
        "logs_ingestion_endpoint": origin,
        "streams": streams,
    })
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    state.authenticate(headers, &[MANAGEMENT_AUDIENCE], true).await
}

pub(crate) async fn workspace_for(
    state: &AppState,
    principal: &Principal,
    id_or_name: &str,
    role: Role,
) -> Result<Workspace, ApiError> {
    let workspace =
        state.control.workspace(Some(&principal.tenant_id), id_or_name).await.map_err(|_| {
            ApiError::not_found("NotFound", format!("No workspace '{id_or_name}' in the caller's tenant."))
        })?;
    if !state.allowed(principal, role, &workspace.tenant_id, &workspace.id, None).await? {
        return Err(ApiError::forbidden(format!("The caller has no {role} role on workspace '{}'.", workspace.name)));
    }
    Ok(workspace)
}

async fn require_tenant_owner(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    let assignments = state.control.role_assignments(&principal.tenant_id, Some(&principal.id)).await?;
    let tenant_scope = Scope::Tenant(principal.tenant_id.clone()).key();
    if assignments.iter().any(|a| a.scope == tenant_scope && a.role == Role::Owner.name()) {
        Ok(())
    } else {
        Err(ApiError::forbidden("Only an Owner of the tenant may do this."))
    }
}

pub async fn list_workspaces(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let mut visible = Vec::new();
    for workspace in state.control.workspaces(Some(&principal.tenant_id)).await? {
        if state.allowed(&principal, Role::Reader, &workspace.tenant_id, &workspace.id, None).await? {
            visible.push(workspace);
        }
    }
    Ok(axum::Json(visible).into_response())
}

#[derive(Deserialize)]
pub struct NewWorkspace {
    name: String,
}

pub async fn create_workspace(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<NewWorkspace>,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    require_tenant_owner(&state, &principal).await?;
    let workspace = state.control.create_workspace(&principal.tenant_id, &body.name).await?;
    Ok((StatusCode::CREATED, axum::Json(workspace)).into_response())
}

#[derive(Deserialize)]
pub struct NewApp {
    name: String,
    #[serde(default)]
    roles: Vec<RoleRequest>,
    secret_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Deserialize)]
pub struct RoleRequest {
    role: String,
    scope: String,
}

pub async fn create_app(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<NewApp>,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    require_tenant_owner(&state, &principal).await?;
    let mut roles = Vec::with_capacity(body.roles.len());
    for request in &body.roles {
        let role: Role = request.role.parse().map_err(|m: String| ApiError::bad_request("InvalidRequest", m))?;
        roles.push((role, state.control.resolve_scope(&principal.tenant_id, &request.scope).await?));
    }
    let app = state.control.create_app(&principal.tenant_id, &body.name, &roles, body.secret_expires_at).await?;
    Ok((StatusCode::CREATED, axum::Json(app)).into_response())
}

/// `GET /api/me`: who the token speaks for, in which tenant, with which roles.
pub async fn me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let tenant = state.control.tenant(&principal.tenant_id).await?;
    let name = state
        .control
        .apps(&principal.tenant_id)
        .await?
        .into_iter()
        .find(|app| app.client_id == principal.id)
        .map(|app| app.name)
        .unwrap_or_else(|| principal.id.clone());
    let roles = state.control.role_assignments(&principal.tenant_id, Some(&principal.id)).await?;
    Ok(axum::Json(json!({
        "tenant": {"id": tenant.id, "name": tenant.name},
        "principal": {"id": principal.id, "name": name},
        "roles": roles.iter().map(|r| json!({"role": r.role, "scope": r.scope})).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `GET /api/apps`: the tenant's application registrations with their roles; never a secret.
pub async fn list_apps(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    require_tenant_owner(&state, &principal).await?;
    let assignments = state.control.role_assignments(&principal.tenant_id, None).await?;
    let apps: Vec<Json> = state
        .control
        .apps(&principal.tenant_id)
        .await?
        .into_iter()
        .map(|app| {
            let roles: Vec<Json> = assignments
                .iter()
                .filter(|a| a.principal == app.client_id)
                .map(|a| json!({"role": a.role, "scope": a.scope}))
                .collect();
            json!({"client_id": app.client_id, "name": app.name, "secretExpires": app.secret_expires_at, "roles": roles})
        })
        .collect();
    Ok(axum::Json(apps).into_response())
}

/// `POST /api/apps/{client_id}/secret`: a new secret, shown this once; the old one stops working.
pub async fn rotate_app_secret(
    State(state): State<Arc<AppState>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    require_tenant_owner(&state, &principal).await?;
    let app = state.control.rotate_secret(&principal.tenant_id, &client_id).await?;
    Ok(axum::Json(app).into_response())
}

pub async fn list_tables(
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    // Custom tables, and the standard tables that have received rows; every other standard
    // table exists too, empty.
    let mut listed: Vec<(vigil_catalog::TableSchema, Option<u32>, bool)> = state
        .control
        .tables(Some(&workspace.id))
        .await?
        .into_iter()
        .map(|t| (t.schema, t.retention_days, false))
        .collect();
    for name in state.store.table_names(&workspace.id) {
        if !listed.iter().any(|(schema, _, _)| schema.name == name)
            && let Some(columns) = state.store.table_columns(&workspace.id, &name)
        {
            listed.push((vigil_catalog::TableSchema::new(name, columns), None, true));
        }
    }
    listed.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let tables: Vec<Json> = listed
        .into_iter()
        .map(|(schema, retention_days, standard)| {
            let stats = state.store.table_stats(&workspace.id, &schema.name);
            let time = |nanos: Option<i64>| nanos.map(|n| chrono::DateTime::from_timestamp_nanos(n).to_rfc3339());
            json!({
                "name": schema.name,
                "standard": standard,
                "retention_days": retention_days,
                "columns": schema.columns.iter().map(|c| json!({"name": c.name, "type": c.ty.name()})).collect::<Vec<_>>(),
                "rows": stats.rows,
                "bytes": stats.bytes,
                "lastEventTime": time(stats.last_event),
                "lastReceived": time(stats.last_received),
            })
        })
        .collect();
    Ok(axum::Json(tables).into_response())
}

pub async fn put_table(
    State(state): State<Arc<AppState>>,
    Path((workspace, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    // The name is checked before anything is written: a refused request changes nothing.
    let named =
        vigil_catalog::parse_table_json(&body).map_err(|e| ApiError::bad_request("InvalidRequest", e.to_string()))?;
    if named.name != name {
        return Err(ApiError::bad_request(
            "InvalidRequest",
            format!("The URL names table '{name}' but the body defines '{}'; make them match.", named.name),
        ));
    }
    let table = state.control.put_table(&workspace.id, &body).await?;
    state.refresh().await?;
    Ok(axum::Json(
        json!({"name": table.schema.name, "workspace_id": workspace.id, "columns": table.schema.columns.len()}),
    )
    .into_response())
}

pub async fn list_dcrs(
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let origin = state.origin();
    let dcrs: Vec<Json> = state.control.dcrs(&workspace.id).await?.iter().map(|d| dcr_summary(d, origin)).collect();
    Ok(axum::Json(dcrs).into_response())
}

pub async fn put_dcr(
    State(state): State<Arc<AppState>>,
    Path((workspace, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let principal = caller(&state, &headers).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    let named = vigil_control::parse_dcr(&body).map_err(|m| ApiError::bad_request("InvalidRequest", m))?;
    if named.name != name {
        return Err(ApiError::bad_request(
            "InvalidRequest",
            format!("The URL names DCR '{name}' but the body defines '{}'.", named.name),
        ));
    }
    let dcr = state.control.put_dcr(&workspace.id, &body, &vigil_content::check_transform).await?;
    Ok(axum::Json(dcr_summary(&dcr, state.origin())).into_response())
}
