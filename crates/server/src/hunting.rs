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
use vigil_kql::QueryError;
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

/// `POST /api/workspaces/{ws}/kql/check`: the result's columns, or the first problem with its
/// position (200 either way: an invalid query is the answer, not a failed request).
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
    let answer = match state.transform_engine.check(&request.query, catalog.as_ref(), false) {
        Ok(columns) => json!({
            "columns": columns.iter().map(|c| json!({"name": c.name, "type": c.ty.name()})).collect::<Vec<_>>(),
        }),
        Err(QueryError::Invalid(diagnostics)) => {
            let text = &request.query;
            let first = diagnostics.first();
            let start = first.map(|d| d.span.start as usize).unwrap_or(0).min(text.len());
            let end = first.map(|d| d.span.end as usize).unwrap_or(start).clamp(start, text.len());
            let position = LineCol::of(text, start);
            json!({"error": {
                "code": first.map(|d| d.code.as_str()).unwrap_or("KS000"),
                "message": first.map(|d| d.message.clone()).unwrap_or_default(),
                "line": position.line,
                "column": position.column,
                "from": utf16_offset(text, start),
                "to": utf16_offset(text, end),
            }})
        }
        Err(other) => json!({"error": {"code": "QueryError", "message": other.render(&request.query)}}),
    };
    Ok(axum::Json(answer).into_response())
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
    let completion = state.transform_engine.complete(&request.query, cursor, catalog.as_ref());
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
