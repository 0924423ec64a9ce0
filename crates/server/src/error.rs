//! Errors as each API family shapes them: the Logs Ingestion API's `{"error":{"code","message"}}`,
//! Log Analytics' query errors with an inner error, and OAuth2's `{"error","error_description"}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

/// An error of the ingestion, query or management APIs.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Log Analytics puts the query diagnostic here.
    pub inner: Option<Box<Json>>,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), inner: None, retry_after: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "AuthorizationFailed", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(5),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", message)
        }
    }

    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", message)
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", message)
    }

    pub fn with_inner(mut self, inner: Json) -> ApiError {
        self.inner = Some(Box::new(inner));
        self
    }
}

impl From<vigil_control::ControlError> for ApiError {
    fn from(error: vigil_control::ControlError) -> ApiError {
        use vigil_control::ControlError;
        match error {
            ControlError::NotFound(m) => ApiError::not_found("NotFound", m),
            ControlError::Invalid(m) => ApiError::bad_request("InvalidRequest", m),
            ControlError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "Conflict", m),
            storage => {
                tracing::error!(error = %storage, "control database failed");
                ApiError::unavailable("the control database is unavailable; retry later")
            }
        }
    }
}

impl From<vigil_store::StoreError> for ApiError {
    fn from(error: vigil_store::StoreError) -> ApiError {
        use vigil_store::StoreError;
        match error {
            StoreError::Overloaded => {
                ApiError::too_many_requests("the server is ingesting more than it can flush; retry later", 5)
            }
            StoreError::UnknownTable(m) => ApiError::not_found("NotFound", m),
            StoreError::Schema(m) => ApiError::bad_request("InvalidRequest", m),
            StoreError::Io(m) => {
                tracing::error!(error = %m, "storage failed");
                ApiError::unavailable("the records could not be stored durably; nothing was written; retry later")
            }
            StoreError::Closed => ApiError::unavailable("the server is shutting down; retry later"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(inner) = self.inner {
            error["innererror"] = *inner;
        }
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// An OAuth2 token endpoint error, as Entra ID writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// Entra ID's AADSTS code, which clients log and some branch on.
    pub code: u32,
    /// Seconds to wait before retrying, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, code: u32, description: impl Into<String>) -> OAuthError {
        OAuthError { status, error, description: description.into(), code, retry_after: None }
    }

    pub fn retry_after(self, seconds: u64) -> OAuthError {
        OAuthError { retry_after: Some(seconds), ..self }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let trace_id = crate::request_id::current().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let body = json!({
            "error": self.error,
            "error_description": format!("AADSTS{}: {}\r\nTrace ID: {trace_id}", self.code, self.description),
            "error_codes": [self.code],
            "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": trace_id,
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
