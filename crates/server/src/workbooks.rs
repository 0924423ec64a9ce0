//! Workbooks (Azure Workbooks `Notebook/1.0` JSON, rendered by the console) and the content
//! packs the console can install.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use vigil_control::Role;

use crate::admin::workspace_for;
use crate::error::ApiError;
use crate::hunting::{parse_body, valid_id};
use crate::state::AppState;
use crate::tokens::MANAGEMENT_AUDIENCE;

pub async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let workbooks: Vec<Json> = state
        .detection
        .workbooks(&workspace.id)
        .await?
        .into_iter()
        .map(|(name, content, updated)| json!({"name": name, "displayName": display_name(&name, &content), "updated": updated}))
        .collect();
    Ok(axum::Json(workbooks).into_response())
}

/// A workbook's title: the first markdown heading of its first text item, else its name.
fn display_name(name: &str, content: &Json) -> String {
    content["items"]
        .as_array()
        .and_then(|items| items.iter().find(|item| item["type"] == 1))
        .and_then(|item| item["content"]["json"].as_str())
        .and_then(|markdown| markdown.lines().find_map(|line| line.trim().strip_prefix('#')))
        .map(|heading| heading.trim_start_matches('#').trim().to_string())
        .filter(|heading| !heading.is_empty())
        .unwrap_or_else(|| name.to_string())
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    match state.detection.workbook(&workspace.id, &name).await? {
        Some((_, content, _)) => Ok(axum::Json(content).into_response()),
        None => Err(ApiError::not_found("NotFound", format!("No workbook '{name}'."))),
    }
}

/// `PUT .../workbooks/{name}` with `Notebook/1.0` JSON: Contributors save workbooks.
pub async fn put(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    if !valid_id(&name) {
        return Err(ApiError::bad_request(
            "InvalidName",
            "A workbook's name is 1 to 128 letters, digits, '-', '_' or '.'.",
        ));
    }
    let content: Json = parse_body(&body)?;
    check_workbook(&content).map_err(|m| ApiError::bad_request("InvalidWorkbook", m))?;
    state.detection.put_workbook(&workspace.id, &name, &content).await?;
    Ok(axum::Json(json!({"name": name, "displayName": display_name(&name, &content)})).into_response())
}

/// The shape every workbook has: `version: "Notebook/1.0"` and an `items` array of objects
/// with a numeric `type`.
fn check_workbook(content: &Json) -> Result<(), String> {
    if content["version"] != "Notebook/1.0" {
        return Err(format!("\"version\" must be \"Notebook/1.0\", not {}", content["version"]));
    }
    let items = content["items"].as_array().ok_or("\"items\" must be an array")?;
    for (index, item) in items.iter().enumerate() {
        if !item["type"].is_number() || !item["content"].is_object() {
            return Err(format!("items[{index}] needs a numeric \"type\" and a \"content\" object"));
        }
    }
    Ok(())
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    if state.detection.delete_workbook(&workspace.id, &name).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("NotFound", format!("No workbook '{name}'.")))
    }
}

/// `GET /api/content`: the packs this build ships.
pub async fn list_packs(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let packs =
        vigil_content::packs().map(|p| p.summary()).collect::<Result<Vec<_>, _>>().map_err(ApiError::internal)?;
    Ok(axum::Json(packs).into_response())
}

/// `POST /api/workspaces/{ws}/content/{name}`: installs a pack; Contributors only.
pub async fn install_pack(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    let pack = vigil_content::pack(&name).map_err(|m| ApiError::not_found("NotFound", m))?;
    let origin = state.origin();
    let target = vigil_content::Target {
        control: &state.control,
        detection: &state.detection,
        workspace: &workspace,
        origin,
        actor: &principal.name,
        rules_enabled: None,
    };
    let report = pack.install(&target).await.map_err(crate::definitions::import_error)?;
    state.refresh().await?;
    Ok(axum::Json(vigil_content::packs::install_summary(&pack, &workspace.id, &report)).into_response())
}
