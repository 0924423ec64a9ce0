//! The Entra ID-compatible token service: OpenID Connect discovery, the JWKS, and the
//! client-credentials grant at the v2 (`scope`) and v1 (`resource`) token endpoints.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use vigil_control::{AppAuthError, PrincipalId, Tenant};

use crate::error::OAuthError;
use crate::state::AppState;
use crate::tokens::{
    DEFENDER_AUDIENCES, INGESTION_AUDIENCE, LOG_ANALYTICS_AUDIENCE, MANAGEMENT_AUDIENCE, TOKEN_LIFETIME_SECONDS,
    issuer_url,
};

async fn tenant(state: &AppState, id_or_name: &str) -> Result<Tenant, OAuthError> {
    state.control.tenant(id_or_name).await.map_err(|_| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!("Tenant '{id_or_name}' not found. Check to make sure you have the correct tenant ID."),
        )
    })
}

pub async fn openid_configuration(
    State(state): State<Arc<AppState>>,
    Path(tenant_name): Path<String>,
) -> Result<Response, OAuthError> {
    let tenant = tenant(&state, &tenant_name).await?;
    let origin = state.origin();
    let base = format!("{origin}/{}", tenant.id);
    Ok(Json(json!({
        "issuer": issuer_url(origin, &tenant.id),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid", "azp", "roles", "ver"],
        "tenant_region_scope": null,
        "cloud_instance_name": "vigil",
    }))
    .into_response())
}

pub async fn keys(State(state): State<Arc<AppState>>) -> Response {
    Json(state.tokens.jwks()).into_response()
}

/// How long a refusal over a rate limit waits before it is sent.
const TARPIT: std::time::Duration = std::time::Duration::from_secs(1);

/// `POST /{tenant}/oauth2/v2.0/token` and `POST /{tenant}/oauth2/token` (v1, with `resource`).
pub async fn token(
    State(state): State<Arc<AppState>>,
    Path(tenant_name): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, OAuthError> {
    // The peer address, not a forwarding header, which the client writes.
    let source = peer.map_or_else(|| "unknown".to_string(), |Extension(ConnectInfo(address))| address.ip().to_string());
    if let Err(wait) = state.token_limits.by_source.take(&source) {
        return Err(tarpitted("this source", wait).await);
    }
    let form: HashMap<String, String> = serde_urlencoded(&body)?;
    let tenant = tenant(&state, &tenant_name).await?;
    let grant = required(&form, "grant_type")?;
    if grant != "client_credentials" {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'; this endpoint grants client_credentials."),
        ));
    }
    let (client_id, client_secret) = client_credentials(&form, &headers)?;
    let audience = requested_audience(&form)?;
    let known = [INGESTION_AUDIENCE, LOG_ANALYTICS_AUDIENCE, MANAGEMENT_AUDIENCE]
        .iter()
        .chain(DEFENDER_AUDIENCES.iter())
        .copied()
        .chain([state.origin()])
        .any(|known| known == audience);
    if !known {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!("The resource principal named {audience} was not found in the tenant named {}.", tenant.name),
        ));
    }
    if let Err(wait) = state.token_limits.by_client.take(&format!("{}/{client_id}", tenant.id)) {
        return Err(tarpitted("this client", wait).await);
    }
    let Some(_check) = state.token_limits.secret_checks.acquire().await else {
        return Err(throttled("all clients", std::time::Duration::from_secs(1)));
    };
    let app = state.control.authenticate_app(&tenant.id, &client_id, &client_secret).await.map_err(|e| match e {
        // An unknown client is answered as a wrong secret (and as late: the control plane checks
        // a decoy hash), so that the answer does not tell which client ids exist.
        AppAuthError::UnknownClient | AppAuthError::InvalidSecret => OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
        ),
        AppAuthError::ExpiredSecret => OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!("The provided client secret keys for app '{client_id}' are expired."),
        ),
        // Said only to a caller that proved it holds the secret.
        AppAuthError::Disabled => OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            7000112,
            format!("Application '{client_id}' is disabled."),
        ),
        AppAuthError::Database(error) => {
            tracing::error!(%error, "control database failed during a token request");
            retry_later()
        }
        AppAuthError::Check(error) => {
            tracing::error!(%error, "a secret check stopped during a token request");
            retry_later()
        }
    })?;
    let principal = PrincipalId::app(&app.client_id);
    let roles = state
        .control
        .role_assignments(&tenant.id, Some(&principal))
        .await
        .map(|assignments| assignments.into_iter().map(|a| a.role).collect::<Vec<_>>())
        .unwrap_or_default();
    let not_before = state.not_before(&tenant.id, &principal).await.map_err(|_| retry_later())?;
    let origin = state.origin();
    let token =
        state.tokens.issue(&issuer_url(origin, &tenant.id), &tenant.id, &app.client_id, &audience, roles, not_before);
    tracing::info!(tenant = %tenant.id, client_id = %app.client_id, audience = %audience, "token issued");
    let mut response = Json(json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECONDS,
        "ext_expires_in": TOKEN_LIFETIME_SECONDS,
        "access_token": token,
    }))
    .into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Entra ID's answer when its own storage fails.
fn retry_later() -> OAuthError {
    OAuthError::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", 90033, "Retry later.")
}

/// Entra ID's answer to a client that asks too often: 429 with `Retry-After`.
/// The refusal of a request over its rate limit, answered late: a client that ignores
/// `Retry-After` and asks again at once gets at most one answer a second on a connection, so
/// a flood costs the server sleeping tasks, not the CPU other tenants need.
async fn tarpitted(whose: &str, wait: std::time::Duration) -> OAuthError {
    tokio::time::sleep(wait.min(TARPIT)).await;
    throttled(whose, wait)
}

fn throttled(whose: &str, wait: std::time::Duration) -> OAuthError {
    let seconds = wait.as_secs().max(1);
    OAuthError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        90055,
        format!("There are too many token requests from {whose}; retry after {seconds} seconds."),
    )
    .retry_after(seconds)
}

fn serde_urlencoded(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", 900144, "The request body is not UTF-8 form data.")
    })?;
    Ok(url::form_urlencoded::parse(text.as_bytes()).into_owned().collect())
}

fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    })
}

/// The client's id and secret, from the form (`client_secret_post`) or HTTP Basic
/// authentication (`client_secret_basic`).
fn client_credentials(form: &HashMap<String, String>, headers: &HeaderMap) -> Result<(String, String), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode =
                |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
            Some((decode(id)?, decode(secret)?))
        });
    if let Some(pair) = basic {
        return Ok(pair);
    }
    Ok((required(form, "client_id")?.to_string(), required(form, "client_secret")?.to_string()))
}

/// The audience a token is asked for: v2's `scope` (`RESOURCE/.default`) or v1's `resource`.
fn requested_audience(form: &HashMap<String, String>) -> Result<String, OAuthError> {
    if let Some(resource) = form.get("resource").filter(|r| !r.is_empty()) {
        return Ok(resource.trim_end_matches('/').to_string());
    }
    let scope = required(form, "scope")?;
    let resource = scope.split_whitespace().find_map(|s| s.strip_suffix("/.default")).ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        )
    })?;
    Ok(resource.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_audience_comes_from_scope_or_resource() {
        assert_eq!(
            requested_audience(&form(&[("scope", "https://monitor.azure.com//.default")])).unwrap(),
            "https://monitor.azure.com"
        );
        assert_eq!(
            requested_audience(&form(&[("resource", "https://api.loganalytics.io/")])).unwrap(),
            "https://api.loganalytics.io"
        );
        let error = requested_audience(&form(&[("scope", "https://monitor.azure.com")])).unwrap_err();
        assert_eq!((error.error, error.code), ("invalid_scope", 1002012));
        assert_eq!(requested_audience(&form(&[])).unwrap_err().code, 900144);
    }

    #[test]
    fn basic_authentication_carries_the_client_credentials() {
        let mut headers = HeaderMap::new();
        headers
            .insert(header::AUTHORIZATION, format!("Basic {}", STANDARD.encode("app%2F1:s%3Acret")).parse().unwrap());
        assert_eq!(client_credentials(&form(&[]), &headers).unwrap(), ("app/1".to_string(), "s:cret".to_string()));
        let missing = client_credentials(&form(&[("client_id", "a")]), &HeaderMap::new()).unwrap_err();
        assert!(missing.description.contains("'client_secret'"));
    }
}
