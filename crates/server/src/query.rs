//! `POST /v1/workspaces/{workspaceId}/query`: the Log Analytics query API, so that
//! `azure-monitor-query` and other Log Analytics clients work against Vigil.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use vigil_catalog::{Catalog, time_range_catalog};
use vigil_control::Role;
use vigil_kql::{QueryError, RunOptions};
use vigil_kql_syntax::diagnostic::LineCol;
use vigil_kql_syntax::literal::parse_datetime;

use vigil_detect::duration::parse_duration;

use crate::error::ApiError;
use crate::metrics::StatusLabel;
use crate::state::AppState;
use crate::tokens::LOG_ANALYTICS_AUDIENCE;

#[derive(Debug, Deserialize)]
pub struct QueryBody {
    query: Option<String>,
    timespan: Option<String>,
}

pub async fn query(
    State(state): State<Arc<AppState>>,
    Path(workspace_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let started = Instant::now();
    let response = match run(&state, &workspace_id, &headers, &body).await {
        Ok(result) => axum::Json(result).into_response(),
        Err(error) => error.into_response(),
    };
    state.metrics.queries.get_or_create(&StatusLabel { status: response.status().as_u16() }).inc();
    state.metrics.query_seconds.observe(started.elapsed().as_secs_f64());
    response
}

async fn run(state: &AppState, workspace_id: &str, headers: &HeaderMap, body: &[u8]) -> Result<Json, ApiError> {
    let principal =
        state.authenticate(headers, &[LOG_ANALYTICS_AUDIENCE, "https://api.loganalytics.azure.com"], true).await?;
    // The caller's own tenant first, so that names (which repeat across tenants) resolve there.
    let workspace = match state.control.workspace(Some(&principal.tenant_id), workspace_id).await {
        Ok(workspace) => workspace,
        Err(_) => state.control.workspace(None, workspace_id).await.map_err(|_| {
            ApiError::not_found("WorkspaceNotFoundError", format!("The workspace '{workspace_id}' could not be found."))
        })?,
    };
    if !state.allowed(&principal, Role::Reader, &workspace.tenant_id, &workspace.id, None).await? {
        return Err(ApiError::forbidden(format!(
            "The caller has no Reader role on workspace '{workspace_id}'."
        ))
        .with_inner(json!({"code": "InsufficientAccessError", "message": "The provided credentials have insufficient access to perform the requested operation"})));
    }
    let body: QueryBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("BadArgumentError", format!("The request body is not a valid query request: {e}"))
    })?;
    let Some(text) = body.query.filter(|q| !q.trim().is_empty()) else {
        return Err(ApiError::bad_request("BadArgumentError", "The request body has no \"query\"."));
    };
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let range = match body.timespan.as_deref() {
        Some(span) if !span.trim().is_empty() => Some(parse_timespan(span, now).map_err(|m| {
            ApiError::bad_request("BadArgumentError", format!("The timespan '{span}' is not valid: {m}"))
        })?),
        _ => None,
    };
    let workspace_catalog = state.catalog(&workspace.id).await?;
    let catalog: Arc<dyn Catalog> = match range {
        Some((start, end)) => time_range_catalog(workspace_catalog, start, end),
        None => workspace_catalog,
    };
    let session = state.query_session(&workspace.tenant_id).await?;
    let options = RunOptions { now: Some(now), principal: Some(principal.name.clone()), ..RunOptions::default() };
    let query = text.clone();
    let result = state.query_runtime.run(async move { session.engine.run(&query, catalog, options).await }).await?;
    Ok(result.map_err(|error| query_error(&error, &text))?.to_json())
}

/// A query failure in Log Analytics' shape: a general message, and the diagnostic with its
/// position in the inner error.
fn query_error(error: &QueryError, text: &str) -> ApiError {
    match error {
        QueryError::Invalid(diagnostics) => {
            let first = diagnostics.first();
            let position = LineCol::of(text, first.map(|d| d.span.start as usize).unwrap_or(0));
            let code =
                if first.is_some_and(|d| d.code.as_str().starts_with("KS")) { "SyntaxError" } else { "SemanticError" };
            ApiError::bad_request("BadArgumentError", "The request had some invalid properties").with_inner(json!({
                "code": code,
                "message": error.render(text),
                "line": position.line,
                "pos": position.column,
                "diagnostics": diagnostics.iter().map(|d| json!({"code": d.code.as_str(), "message": d.message})).collect::<Vec<_>>(),
            }))
        }
        QueryError::TimeLimit(_) => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "GatewayTimeout", error.to_string()),
        // The query, not the server, is what asks too much: the client can narrow it.
        QueryError::MemoryLimit { .. } => ApiError::bad_request("BadArgumentError", "The query used too much memory")
            .with_inner(json!({"code": "MemoryLimitExceeded", "message": error.to_string()})),
        // The server's fault: what failed (file names included) goes to the log under the
        // request id the client is given, not to the client.
        QueryError::Storage(_) => {
            tracing::error!(error = %error, "a query could not read the stored data");
            ApiError::unavailable(
                "The stored data could not be read; retry later, or give the request id to an administrator",
            )
        }
        QueryError::Internal(_) => {
            tracing::error!(error = %error, "a query met an internal error");
            ApiError::internal("The query met an internal error; give the request id to an administrator")
        }
        other => ApiError::bad_request("BadArgumentError", "The query failed").with_inner(json!({
            "code": "QueryExecutionError",
            "message": other.render(text),
        })),
    }
}

/// Parses the API's `timespan`: an ISO 8601 duration ending now (`PT3600.0S`, `P1D`), or an
/// interval (`start/end`, `start/duration`, `duration/end`). Returns `[start, end)` in
/// nanoseconds.
pub fn parse_timespan(text: &str, now: i64) -> Result<(i64, i64), String> {
    let text = text.trim();
    let (start, end) = match text.split_once('/') {
        None => {
            let duration = parse_duration(text)?;
            (now - duration, now)
        }
        Some((first, second)) => match (first.starts_with('P'), second.starts_with('P')) {
            (false, false) => (parse_instant(first)?, parse_instant(second)?),
            (false, true) => {
                let start = parse_instant(first)?;
                (start, start + parse_duration(second)?)
            }
            (true, false) => {
                let end = parse_instant(second)?;
                (end - parse_duration(first)?, end)
            }
            (true, true) => return Err("an interval needs at least one instant".into()),
        },
    };
    if end < start {
        return Err("it ends before it starts".into());
    }
    Ok((start, end))
}

fn parse_instant(text: &str) -> Result<i64, String> {
    parse_datetime(text).ok_or_else(|| format!("'{text}' is not an ISO 8601 date and time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000_000;
    const HOUR: i64 = 3_600_000_000_000;

    #[test]
    fn durations_end_now() {
        assert_eq!(parse_timespan("PT3600.0S", NOW), Ok((NOW - HOUR, NOW)));
        assert_eq!(parse_timespan("P1D", NOW), Ok((NOW - 24 * HOUR, NOW)));
        assert_eq!(parse_timespan("P1DT2H30M", NOW), Ok((NOW - 26 * HOUR - HOUR / 2, NOW)));
        assert_eq!(parse_timespan("PT0.5S", NOW), Ok((NOW - 500_000_000, NOW)));
    }

    #[test]
    fn intervals_have_instants_and_durations() {
        let start = 1_704_067_200_000_000_000; // 2024-01-01T00:00:00Z
        assert_eq!(parse_timespan("2024-01-01T00:00:00Z/2024-01-01T01:00:00Z", NOW), Ok((start, start + HOUR)));
        assert_eq!(parse_timespan("2024-01-01T00:00:00Z/PT1H", NOW), Ok((start, start + HOUR)));
        assert_eq!(parse_timespan("PT1H/2024-01-01T01:00:00Z", NOW), Ok((start, start + HOUR)));
    }

    #[test]
    fn bad_timespans_say_why() {
        assert!(parse_timespan("1h", NOW).unwrap_err().contains("ISO 8601 duration"));
        assert!(parse_timespan("PT", NOW).is_err());
        assert!(parse_timespan("P1H", NOW).is_err(), "hours belong after T");
        assert!(parse_timespan("PT1H/PT2H", NOW).unwrap_err().contains("instant"));
        assert!(parse_timespan("2024-01-02T00:00:00Z/2024-01-01T00:00:00Z", NOW).unwrap_err().contains("ends before"));
    }
}
