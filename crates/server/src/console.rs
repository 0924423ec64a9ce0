//! The web console: the single-page app built from `console/` (its `dist/` is committed and
//! embedded here, so `cargo run -- serve` needs no Node.js), and the one unauthenticated call
//! it makes before login. Everything else the console does goes through the public APIs with
//! the user's token.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

static ASSETS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../console/dist");

/// Paths that belong to the APIs: an unknown one is an API 404, never the console's page.
const API_PREFIXES: &[&str] = &["/api/", "/v1/", "/dataCollectionRules/", "/metrics", "/healthz", "/readyz"];

/// Scripts only from this origin; styles inline too because CodeMirror and ECharts set them.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self' https:; font-src 'self' data:; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// `GET /api/console/config`: what the login page needs to know (version, OIDC provider).
pub async fn config(State(state): State<Arc<AppState>>) -> Response {
    let oidc = state
        .config
        .console_oidc
        .as_ref()
        .map(|oidc| json!({"authority": oidc.authority, "clientId": oidc.client_id, "scope": oidc.scope}));
    axum::Json(json!({"version": env!("CARGO_PKG_VERSION"), "oidc": oidc})).into_response()
}

/// Serves the console for every GET that is not an API: a hashed asset when the path names
/// one, else `index.html` (the app routes on the client).
pub async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    let is_api = API_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
        || path.contains("/oauth2/")
        || path.contains("/discovery/")
        || path.contains("/.well-known/");
    if is_api || !matches!(*request.method(), Method::GET | Method::HEAD) {
        return ApiError::not_found("NotFound", "There is no such API.").into_response();
    }
    let relative = path.trim_start_matches('/');
    if relative.starts_with("assets/") {
        // Asset names carry a content hash, so they never change; a missing one is a 404, not
        // the app's page (a stale tab asking for last release's chunk must see the failure).
        return match ASSETS.get_file(relative) {
            Some(file) => asset(file.contents(), content_type(relative), "public, max-age=31536000, immutable"),
            None => (StatusCode::NOT_FOUND, "No such asset.").into_response(),
        };
    }
    if let Some(file) = ASSETS.get_file(relative).filter(|_| !relative.is_empty()) {
        return asset(file.contents(), content_type(relative), "no-cache");
    }
    match ASSETS.get_file("index.html") {
        Some(index) => asset(index.contents(), "text/html; charset=utf-8", "no-cache"),
        None => (StatusCode::NOT_FOUND, "This build has no console.").into_response(),
    }
}

fn asset(body: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
