//! What the console's KQL editor asks while the analyst types: diagnostics (`kql/check`) and
//! completions (`kql/complete`), both answered by the engine against the workspace's tables;
//! and the workspace's saved queries. Offsets on the wire count UTF-16 code units, as the
//! browser's editor does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use vigil_control::Role;
use vigil_kql_syntax::LineCol;

use crate::admin::workspace_for;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::MANAGEMENT_AUDIENCE;

#[derive(Deserialize)]
struct CheckRequest {
    query: String,
}

#[derive(Deserialize)]
struct CompleteRequest {
    query: String,
    position: usize,
}

/// A JSON request body of the console's endpoints; 400 `InvalidJson` naming what is wrong.
pub(crate) fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("InvalidJson", format!("The body is not valid: {e}")))
}

/// `POST /api/workspaces/{ws}/kql/check`: every problem the parser and the binder find
/// (`diagnostics`, in text order, `error` repeating the first), or the result's columns when
/// there is none (200 either way: an invalid query is the answer, not a failed request).
pub async fn check(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let request: CheckRequest = parse_body(&body)?;
    let catalog = state.catalog(&workspace.id).await?;
    let engine = state.transform_engine.clone();
    let text = request.query.clone();
    let (columns, diagnostics) =
        off_the_async_threads(&state, move || engine.diagnose(&text, catalog.as_ref())).await?;
    let text = &request.query;
    let diagnostics: Vec<Json> = diagnostics
        .iter()
        .map(|d| {
            let start = (d.span.start as usize).min(text.len());
            let end = (d.span.end as usize).clamp(start, text.len());
            let position = LineCol::of(text, start);
            json!({
                "code": d.code.as_str(),
                "severity": match d.severity {
                    vigil_kql_syntax::Severity::Error => "error",
                    vigil_kql_syntax::Severity::Warning => "warning",
                },
                "message": d.message,
                "help": d.help,
                "line": position.line,
                "column": position.column,
                "from": utf16_offset(text, start),
                "to": utf16_offset(text, end),
            })
        })
        .collect();
    let answer = match diagnostics.first() {
        None => json!({
            "columns": columns.iter().map(|c| json!({"name": c.name, "type": c.ty.name()})).collect::<Vec<_>>(),
            "diagnostics": [],
        }),
        Some(first) => json!({"error": first, "diagnostics": diagnostics}),
    };
    Ok(axum::Json(answer).into_response())
}

/// Runs an editor request's parsing and binding on a blocking thread within the query time
/// limit, so that no query text, however large or deep, holds an async thread.
async fn off_the_async_threads<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let limit = state.config.query_timeout;
    match tokio::time::timeout(limit, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(panic)) => Err(ApiError::internal(format!("checking the query failed: {panic}"))),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "GatewayTimeout",
            format!("checking the query took longer than the limit of {} seconds", limit.as_secs()),
        )),
    }
}

/// `POST /api/workspaces/{ws}/kql/complete`: what may be typed at `position`.
pub async fn complete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let request: CompleteRequest = parse_body(&body)?;
    let cursor = byte_offset(&request.query, request.position);
    let catalog = state.catalog(&workspace.id).await?;
    let engine = state.transform_engine.clone();
    let text = request.query.clone();
    let completion = off_the_async_threads(&state, move || engine.complete(&text, cursor, catalog.as_ref())).await?;
    Ok(axum::Json(json!({
        "from": utf16_offset(&request.query, completion.from),
        "items": completion.items,
    }))
    .into_response())
}

/// The byte offset of the character at UTF-16 offset `units` (clamped to the text).
fn byte_offset(text: &str, units: usize) -> usize {
    let mut counted = 0;
    for (index, c) in text.char_indices() {
        if counted >= units {
            return index;
        }
        counted += c.len_utf16();
    }
    text.len()
}

fn utf16_offset(text: &str, bytes: usize) -> usize {
    text.get(..bytes).map(|s| s.encode_utf16().count()).unwrap_or_else(|| text.encode_utf16().count())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedQuery {
    name: String,
    query: String,
    #[serde(default)]
    description: String,
}

pub async fn list_saved_queries(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let queries: Vec<Json> = state
        .detection
        .saved_queries(&workspace.id)
        .await?
        .into_iter()
        .map(|(id, mut content, updated)| {
            content["id"] = json!(id);
            content["updated"] = json!(updated);
            content
        })
        .collect();
    Ok(axum::Json(queries).into_response())
}

/// `PUT .../savedQueries/{id}`: Responders save the queries they hunt with.
pub async fn put_saved_query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Responder).await?;
    let saved: SavedQuery = parse_body(&body)?;
    if !valid_id(&id) {
        return Err(ApiError::bad_request(
            "InvalidId",
            "A saved query's id is 1 to 128 letters, digits, '-', '_' or '.'.",
        ));
    }
    if saved.name.trim().is_empty() || saved.query.trim().is_empty() {
        return Err(ApiError::bad_request("InvalidSavedQuery", "A saved query needs a name and a query."));
    }
    let content = json!({"name": saved.name.trim(), "query": saved.query, "description": saved.description});
    state.detection.put_saved_query(&workspace.id, &id, &content).await?;
    Ok((StatusCode::OK, axum::Json(json!({"id": id, "name": content["name"], "query": content["query"], "description": content["description"]}))).into_response())
}

pub async fn delete_saved_query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Responder).await?;
    if state.detection.delete_saved_query(&workspace.id, &id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("NotFound", format!("No saved query '{id}'.")))
    }
}

pub(crate) fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_convert_between_utf16_and_bytes() {
        let text = "print x = '日本😀' | where";
        let byte = text.find('|').unwrap();
        let units = utf16_offset(text, byte);
        assert_eq!(units, text[..byte].chars().map(char::len_utf16).sum::<usize>());
        assert_eq!(byte_offset(text, units), byte);
        assert_eq!(byte_offset(text, 10_000), text.len());
    }
}
