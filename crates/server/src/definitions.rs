//! What a workspace defines besides its tables, over REST: saved functions (Log Analytics'
//! saved searches with a function alias), watchlists (Sentinel's watchlist API shape), and
//! importing Sentinel content. Readers list; Contributors change.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use vigil_control::{NewWatchlist, Role, SavedFunction};

use crate::admin::workspace_for;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::MANAGEMENT_AUDIENCE;

/// A watchlist's CSV may be 3.8 MB; as a JSON string its line breaks and quotes take two
/// bytes each.
pub const WATCHLIST_BODY_LIMIT: usize = 2 * vigil_control::MAX_CSV_BYTES + 64 * 1024;
/// Content to import: a solution's files, as JSON.
pub const IMPORT_BODY_LIMIT: usize = 32 << 20;

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("InvalidRequestBody", format!("The request body is not valid: {e}")))
}

fn is_yaml(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("yaml"))
}

/// A function as Log Analytics' saved-search API writes it (`properties.functionAlias`...), or
/// flat.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct FunctionBody {
    properties: Option<Box<FunctionBody>>,
    query: Option<String>,
    body: Option<String>,
    function_parameters: Option<String>,
    parameters: Option<String>,
    function_alias: Option<String>,
    aliases: Option<Vec<String>>,
    category: Option<String>,
    display_name: Option<String>,
}

pub async fn list_functions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let functions = state.control.functions(&workspace.id).await?;
    Ok(axum::Json(json!({"value": functions})).into_response())
}

pub async fn get_function(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let function = state.control.function(&workspace.id, &name).await?;
    let function = function.ok_or_else(|| ApiError::not_found("NotFound", format!("No function '{name}'.")))?;
    Ok(axum::Json(function).into_response())
}

/// `PUT .../functions/{name}`: JSON (flat, or Log Analytics' `properties`), or a Sentinel
/// parser file as YAML.
pub async fn put_function(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    let function = if is_yaml(&headers) {
        let text = std::str::from_utf8(&body)
            .map_err(|_| ApiError::bad_request("InvalidRequestBody", "The parser file is not UTF-8."))?;
        let mut function = vigil_content::parse_parser("request body", text)
            .map_err(|e| ApiError::bad_request("InvalidParser", e.to_string()))?;
        function.source = "REST".into();
        function
    } else {
        let outer: FunctionBody = json_body(&body)?;
        let fields = outer.properties.map(|p| *p).unwrap_or_default();
        let pick = |a: Option<String>, b: Option<String>| a.or(b).unwrap_or_default();
        let query = pick(fields.query.or(fields.body), outer.query.or(outer.body));
        let mut aliases = outer.aliases.or(fields.aliases).unwrap_or_default();
        if let Some(alias) = fields.function_alias.or(outer.function_alias).filter(|a| *a != name) {
            aliases.push(alias);
        }
        SavedFunction {
            display_name: pick(fields.display_name, outer.display_name),
            name: name.clone(),
            aliases,
            parameters: pick(
                fields.function_parameters.or(fields.parameters),
                outer.function_parameters.or(outer.parameters),
            ),
            body: query,
            category: pick(fields.category, outer.category),
            source: "REST".into(),
        }
    };
    if function.name != name {
        return Err(ApiError::bad_request(
            "InvalidRequestBody",
            format!("The URL names function '{name}' but the parser defines '{}'.", function.name),
        ));
    }
    vigil_content::check_function(&function).map_err(|m| ApiError::bad_request("InvalidFunction", m))?;
    state.control.put_function(&workspace.id, &function).await?;
    Ok(axum::Json(function).into_response())
}

pub async fn delete_function(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    if state.control.delete_function(&workspace.id, &name).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("NotFound", format!("No function '{name}'.")))
    }
}

/// A watchlist as Sentinel's watchlist API writes it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WatchlistBody {
    properties: WatchlistProperties,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WatchlistProperties {
    display_name: String,
    description: String,
    provider: String,
    source: String,
    items_search_key: String,
    raw_content: String,
    number_of_lines_to_skip: usize,
    labels: Vec<String>,
    content_type: Option<String>,
}

pub async fn list_watchlists(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let watchlists = state.control.watchlists(&workspace.id).await?;
    Ok(axum::Json(json!({"value": watchlists})).into_response())
}

pub async fn get_watchlist(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, alias)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    let watchlist = state.control.watchlist(&workspace.id, &alias).await?;
    let watchlist = watchlist.ok_or_else(|| ApiError::not_found("NotFound", format!("No watchlist '{alias}'.")))?;
    Ok(axum::Json(watchlist).into_response())
}

/// `GET .../watchlists/{alias}/items`: the current items, each a map of column to value.
pub async fn watchlist_items(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, alias)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Reader).await?;
    if state.control.watchlist(&workspace.id, &alias).await?.is_none() {
        return Err(ApiError::not_found("NotFound", format!("No watchlist '{alias}'.")));
    }
    let items = state.control.watchlist_items(&workspace.id, &alias).await?;
    Ok(axum::Json(json!({"value": items})).into_response())
}

/// `PUT .../watchlists/{alias}`: creates it, or replaces its settings and items.
pub async fn put_watchlist(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, alias)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    let request: WatchlistBody = json_body(&body)?;
    let properties = request.properties;
    if let Some(kind) = properties.content_type.as_deref()
        && !kind.eq_ignore_ascii_case("text/csv")
    {
        return Err(ApiError::bad_request(
            "InvalidWatchlist",
            format!("properties.contentType: '{kind}' is not supported; watchlists are text/csv"),
        ));
    }
    let new = NewWatchlist {
        alias,
        display_name: properties.display_name,
        description: properties.description,
        provider: properties.provider,
        source: properties.source,
        items_search_key: properties.items_search_key,
        labels: properties.labels,
        raw_content: properties.raw_content,
        lines_to_skip: properties.number_of_lines_to_skip,
    };
    vigil_control::check_watchlist(&new).map_err(|e| {
        ApiError::bad_request("InvalidWatchlist", format!("properties.{}: {}", e.field, e.message))
            .with_inner(json!({"field": format!("properties.{}", e.field)}))
    })?;
    let saved = state.control.put_watchlist(&workspace.id, &new, &principal.name).await?;
    Ok(axum::Json(saved).into_response())
}

pub async fn delete_watchlist(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((workspace, alias)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    if state.control.delete_watchlist(&workspace.id, &alias, &principal.name).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("NotFound", format!("No watchlist '{alias}'.")))
    }
}

#[derive(Deserialize)]
struct ImportBody {
    files: Vec<ImportFile>,
    #[serde(default)]
    strict: bool,
}

#[derive(Deserialize)]
struct ImportFile {
    path: String,
    text: String,
}

/// `POST .../content/import`: a solution's files (`{"files": [{"path", "text"}]}`, paths as the
/// repository lays them out), imported as `vigil content import` imports a folder.
pub async fn import_content(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(workspace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = state.authenticate(&headers, &[MANAGEMENT_AUDIENCE], true).await?;
    let workspace = workspace_for(&state, &principal, &workspace, Role::Contributor).await?;
    let request: ImportBody = json_body(&body)?;
    if request.files.len() > vigil_content::source::MAX_FILES {
        return Err(ApiError::bad_request(
            "InvalidRequestBody",
            format!("{} files; at most {} are imported at once", request.files.len(), vigil_content::source::MAX_FILES),
        ));
    }
    let files: Vec<vigil_content::SourceFile> = request
        .files
        .into_iter()
        .map(|f| vigil_content::SourceFile {
            path: f.path.replace('\\', "/").trim_start_matches('/').to_string(),
            text: f.text.trim_start_matches('\u{feff}').to_string(),
        })
        .collect();
    let origin = state.origin();
    let target = vigil_content::Target {
        control: &state.control,
        detection: &state.detection,
        workspace: &workspace,
        origin,
        actor: &principal.name,
        rules_enabled: None,
    };
    let outcome = vigil_content::import(&files, &target, request.strict).await;
    state.refresh().await?;
    Ok(axum::Json(outcome.map_err(import_error)?).into_response())
}

/// An import's failure as the API answers it: what the content got wrong as a 400 naming it,
/// what the workspace refused as the control plane or detection answer it (the item named),
/// and the server's own faults without their internals.
pub(crate) fn import_error(error: vigil_content::ImportError) -> ApiError {
    use vigil_content::{ImportError, WriteError};
    match error {
        ImportError::Unreadable(errors) => ApiError::bad_request(
            "InvalidContent",
            format!("Nothing was imported: {} file(s) cannot be read.", errors.len()),
        )
        .with_inner(json!({"errors": errors.iter().map(|e| json!({"file": e.file, "field": e.field, "message": e.message})).collect::<Vec<Json>>()})),
        ImportError::Skipped(report) => ApiError::bad_request(
            "InvalidContent",
            format!("Nothing was imported: {} item(s) would be skipped.", report.skipped()),
        )
        .with_inner(serde_json::to_value(&report).unwrap_or_default()),
        ImportError::Pack(_) => {
            tracing::error!(error = %error, "a content pack of this build cannot be read");
            ApiError::internal("The content pack cannot be read; give the request id to an administrator")
        }
        ImportError::Workspace { item, source } => {
            let mut answer = match source {
                WriteError::Control(e) => ApiError::from(e),
                WriteError::Detection(e) => ApiError::from(e),
            };
            if answer.status.is_client_error() {
                answer.message = format!("{item}: {}", answer.message);
            }
            answer
        }
    }
}
