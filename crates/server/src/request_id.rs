//! Every request gets an id, which its response carries (`x-ms-request-id`, as Azure's APIs
//! answer) and every log line written while it is served carries too (a tracing span), so that
//! the id in a user's error report finds the server's account of it.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The response header that carries the id.
pub const HEADER: &str = "x-ms-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any (error bodies quote it).
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The middleware: assigns the id, serves the request inside its span, and logs the answer
/// (at info when it is not a success, at debug otherwise, so that ingestion at full rate does
/// not flood the log).
pub async fn assign(request: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    let started = Instant::now();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request).instrument(span.clone())).await;
    let status = response.status();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), elapsed_ms, "answered");
        } else if status.is_client_error() {
            tracing::info!(status = status.as_u16(), elapsed_ms, "answered");
        } else {
            tracing::debug!(status = status.as_u16(), elapsed_ms, "answered");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_response_and_the_log_lines_carry_the_same_id() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        let app = Router::new()
            .route(
                "/fails",
                get(|| async {
                    tracing::error!(quoted = %current().unwrap_or_default(), "the handler failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }),
            )
            .layer(axum::middleware::from_fn(assign));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ids: Vec<String> = tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                let mut ids = Vec::new();
                for _ in 0..2 {
                    let request = axum::http::Request::get("/fails").body(Body::empty()).unwrap();
                    let response = app.clone().oneshot(request).await.unwrap();
                    ids.push(response.headers()[HEADER].to_str().unwrap().to_string());
                }
                ids
            })
        });
        assert_ne!(ids[0], ids[1], "each request has its own id");
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        for id in &ids {
            let lines: Vec<&str> = log.lines().filter(|line| line.contains(&format!("id={id}"))).collect();
            assert_eq!(lines.len(), 2, "the handler's line and the answer's line carry {id}:\n{log}");
            assert!(lines[0].contains("the handler failed") && lines[0].contains(&format!("quoted={id}")), "{log}");
            assert!(lines[1].contains("answered") && lines[1].contains("status=500"), "{log}");
        }
    }
}
