//! Administration over REST, the same operations as the CLI's admin commands: workspaces,
//! applications and their roles, tables, DCRs. Owners manage applications and workspaces;
//! Contributors manage tables and DCRs; Readers list.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use vigil_control::{App, Dcr, ExternalIssuer, PrincipalId, Role, RoleAssignment, Scope, Workspace};

use crate::error::ApiError;
use crate::hunting::parse_body;
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

/// The caller, when it is an Owner of its tenant.
async fn tenant_owner(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let principal = caller(state, headers).await?;
    let assignments = state.control.role_assignments(&principal.tenant_id, Some(&principal.id)).await?;
    let tenant_scope = Scope::Tenant(principal.tenant_id.clone()).key();
    if assignments.iter().any(|a| a.scope == tenant_scope && a.role == Role::Owner.name()) {
        Ok(principal)
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
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    let body: NewWorkspace = parse_body(&body)?;
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
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    let body: NewApp = parse_body(&body)?;
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
    let app_name = match principal.id.issuer {
        None => state
            .control
            .apps(&principal.tenant_id)
            .await?
            .into_iter()
            .find(|app| app.client_id == principal.id.subject)
            .map(|app| app.name),
        Some(_) => None,
    };
    let roles = state.control.role_assignments(&principal.tenant_id, Some(&principal.id)).await?;
    Ok(axum::Json(json!({
        "tenant": {"id": tenant.id, "name": tenant.name},
        "principal": {
            "id": principal.id.subject,
            "issuer": principal.id.issuer,
            "name": app_name.unwrap_or_else(|| principal.name.clone()),
            "actor": principal.name,
        },
        "roles": roles.iter().map(|r| json!({"role": r.role, "scope": r.scope})).collect::<Vec<_>>(),
    }))
    .into_response())
}

fn app_json(app: &App, assignments: &[RoleAssignment]) -> Json {
    let roles: Vec<Json> = assignments
        .iter()
        .filter(|a| a.principal == PrincipalId::app(&app.client_id))
        .map(|a| json!({"id": a.id, "role": a.role, "scope": a.scope}))
        .collect();
    json!({
        "client_id": app.client_id,
        "name": app.name,
        "enabled": app.enabled,
        "secretExpires": app.secret_expires_at,
        "roles": roles,
    })
}

/// `GET /api/apps`: the tenant's application registrations with their roles; never a secret.
pub async fn list_apps(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    let assignments = state.control.role_assignments(&principal.tenant_id, None).await?;
    let apps: Vec<Json> =
        state.control.apps(&principal.tenant_id).await?.iter().map(|app| app_json(app, &assignments)).collect();
    Ok(axum::Json(apps).into_response())
}

/// `POST /api/apps/{client_id}/secret`: a new secret, shown this once; the old one and the
/// tokens obtained with it stop working.
pub async fn rotate_app_secret(
    State(state): State<Arc<AppState>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    let app = state.control.rotate_secret(&principal.tenant_id, &client_id).await?;
    Ok(axum::Json(app).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppChange {
    enabled: bool,
}

/// `PATCH /api/apps/{client_id}` `{"enabled": false}`: disables an application (its tokens
/// stop working at once) or enables it again.
pub async fn update_app(
    State(state): State<Arc<AppState>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    let change: AppChange = parse_body(&body)?;
    if !change.enabled {
        refuse_self(&principal, &PrincipalId::app(&client_id), "disable")?;
    }
    let app = state.control.set_app_enabled(&principal.tenant_id, &client_id, change.enabled).await?;
    let assignments = state.control.role_assignments(&principal.tenant_id, Some(&PrincipalId::app(&client_id))).await?;
    Ok(axum::Json(app_json(&app, &assignments)).into_response())
}

/// `DELETE /api/apps/{client_id}`: the application, its role assignments and its tokens.
pub async fn delete_app(
    State(state): State<Arc<AppState>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    refuse_self(&principal, &PrincipalId::app(&client_id), "delete")?;
    state.control.delete_app(&principal.tenant_id, &client_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An Owner who disables or deletes itself locks the tenant out of its own administration.
fn refuse_self(principal: &Principal, target: &PrincipalId, what: &str) -> Result<(), ApiError> {
    if &principal.id == target {
        return Err(ApiError::bad_request(
            "InvalidRequest",
            format!("An application cannot {what} itself; use another Owner's token (or the CLI)."),
        ));
    }
    Ok(())
}

/// `GET /api/roleAssignments`: every role assignment of the tenant.
pub async fn list_role_assignments(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    Ok(axum::Json(state.control.role_assignments(&principal.tenant_id, None).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRoleAssignment {
    principal: String,
    /// Absent for a Vigil application; the issuer of an external subject.
    issuer: Option<String>,
    role: String,
    scope: String,
}

/// `POST /api/roleAssignments` `{"principal","issuer"?,"role","scope"}`.
pub async fn assign_role(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = tenant_owner(&state, &headers).await?;
    let body: NewRoleAssignment = parse_body(&body)?;
    let role: Role = body.role.parse().map_err(|m: String| ApiError::bad_request("InvalidRequest", m))?;
    let scope = state.control.resolve_scope(&caller.tenant_id, &body.scope).await?;
    let principal = state.control.principal(&caller.tenant_id, &body.principal, body.issuer.as_deref()).await?;
    let assignment = state.control.assign_role(&caller.tenant_id, &principal, role, &scope).await?;
    Ok((StatusCode::CREATED, axum::Json(assignment)).into_response())
}

/// `DELETE /api/roleAssignments/{id}`: takes effect on the principal's next request.
pub async fn remove_role_assignment(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    state.control.remove_role_assignment(&principal.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    principal: String,
    issuer: Option<String>,
}

/// `POST /api/revokeSessions` `{"principal","issuer"?}`: every token the principal holds stops
/// working ("sign out everywhere"); tokens it gets afterwards work.
pub async fn revoke_sessions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = tenant_owner(&state, &headers).await?;
    let body: RevokeRequest = parse_body(&body)?;
    let principal = state.control.principal(&caller.tenant_id, &body.principal, body.issuer.as_deref()).await?;
    let not_before = state.control.revoke_tokens(&caller.tenant_id, &principal).await?;
    let not_before = chrono::DateTime::from_timestamp(not_before, 0).map(|t| t.to_rfc3339());
    Ok(axum::Json(json!({"principal": principal, "tokensIssuedBefore": not_before})).into_response())
}

/// `GET /api/issuers`: the external issuers the tenant trusts.
pub async fn list_issuers(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    Ok(axum::Json(state.control.external_issuers(Some(&principal.tenant_id)).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerRequest {
    issuer: String,
    jwks_uri: String,
}

/// `POST /api/issuers` `{"issuer","jwks_uri"}`: trusts an OpenID Connect issuer's tokens.
pub async fn trust_issuer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    let body: IssuerRequest = parse_body(&body)?;
    let trusted = ExternalIssuer::checked(&principal.tenant_id, &body.issuer, &body.jwks_uri)
        .map_err(|m| ApiError::bad_request("InvalidRequest", m))?;
    state.control.add_external_issuer(&trusted).await?;
    Ok((StatusCode::CREATED, axum::Json(trusted)).into_response())
}

#[derive(Deserialize)]
pub struct IssuerQuery {
    issuer: String,
}

/// `DELETE /api/issuers?issuer=URL`: its tokens are refused from the next request on, and its
/// subjects' role assignments are removed.
pub async fn distrust_issuer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<IssuerQuery>,
) -> Result<Response, ApiError> {
    let principal = tenant_owner(&state, &headers).await?;
    state.control.remove_external_issuer(&principal.tenant_id, &query.issuer).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
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
