//! `POST /dataCollectionRules/{immutableId}/streams/{stream}?api-version=2023-01-01`: the
//! Logs Ingestion API, with Azure's statuses and error bodies. A 204 means every record of
//! the request is in the write-ahead log, fsynced; any error means none is.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use vigil_control::Role;
use vigil_shares::Refused;

use crate::error::ApiError;
use crate::metrics::StatusLabel;
use crate::records::{Destination, RecordsError, coerce, records_to_batch, transform};
use crate::state::AppState;
use crate::tokens::INGESTION_AUDIENCE;

/// Azure's limit on a request, compressed or not.
pub const MAX_BODY_BYTES: usize = 1 << 20;
const API_VERSIONS: [&str; 2] = ["2023-01-01", "2021-11-01-preview"];

pub async fn ingest(
    State(state): State<Arc<AppState>>,
    Path((dcr_id, stream)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = handle(&state, &dcr_id, &stream, &query, &headers, body).await;
    let response = match result {
        Ok(records) => {
            state.metrics.ingest_records.inc_by(records as u64);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => {
            tracing::debug!(dcr = %dcr_id, stream = %stream, status = error.status.as_u16(), message = %error.message, "ingestion refused");
            error.into_response()
        }
    };
    state.metrics.ingest_requests.get_or_create(&StatusLabel { status: response.status().as_u16() }).inc();
    state.metrics.ingest_seconds.observe(started.elapsed().as_secs_f64());
    response
}

async fn handle(
    state: &AppState,
    dcr_id: &str,
    stream: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<usize, ApiError> {
    let principal = state.authenticate(headers, &[INGESTION_AUDIENCE], false).await?;
    match query.get("api-version").map(String::as_str) {
        Some(version) if API_VERSIONS.contains(&version) => {}
        Some(version) => {
            return Err(ApiError::bad_request(
                "InvalidApiVersion",
                format!("The api-version '{version}' is not supported; use 2023-01-01."),
            ));
        }
        None => {
            return Err(ApiError::bad_request(
                "MissingApiVersionParameter",
                "The api-version query parameter is required; use 2023-01-01.",
            ));
        }
    }
    let Some(dcr) = state.dcr(dcr_id).await? else {
        return Err(ApiError::not_found(
            "NotFound",
            format!("Data collection rule with immutable Id '{dcr_id}' not found."),
        ));
    };
    if !state
        .allowed(
            &principal,
            Role::MonitoringMetricsPublisher,
            &dcr.tenant_id,
            &dcr.workspace_id,
            Some(&dcr.immutable_id),
        )
        .await?
    {
        return Err(ApiError::forbidden(format!(
            "The authentication token provided does not have access to ingest data for the data collection rule with immutable Id '{dcr_id}': the application needs the Monitoring Metrics Publisher role on it."
        )));
    }
    let Some(stream_columns) = dcr.definition.streams.get(stream) else {
        return Err(ApiError::not_found(
            "InvalidStream",
            format!("Stream '{stream}' is not declared in data collection rule '{dcr_id}'."),
        ));
    };
    let flows: Vec<_> = dcr.definition.flows_of(stream).collect();
    // The body arrives before a slot is taken: a slow upload holds only its own connection,
    // and only for as long as the timeout allows.
    let timeout = state.config.ingest_body_timeout;
    let raw = tokio::time::timeout(timeout, read_body(headers, body)).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!("The request body did not arrive within {} seconds; nothing was written.", timeout.as_secs()),
        )
    })??;
    let _slot = state.ingest_slots.try_acquire(&dcr.tenant_id).map_err(|refused| {
        let message = match refused {
            Refused::TenantShare => {
                "This tenant has as many ingestion requests in progress as its share of the server allows; retry later."
            }
            Refused::Full => "The server is handling as many ingestion requests as it can; retry later.",
        };
        ApiError::too_many_requests(message, 1)
    })?;
    state.metrics.ingest_bytes.inc_by(raw.len() as u64);
    let text = decode_body(headers, raw)?;
    state.metrics.ingest_uncompressed_bytes.inc_by(text.len() as u64);
    let input = records_to_batch(stream_columns, &text).map_err(|error| match error {
        RecordsError::Json(message) => {
            ApiError::bad_request("InvalidJson", format!("The request body is not valid JSON: {message}"))
        }
        RecordsError::NotArray => ApiError::bad_request(
            "InvalidPayload",
            "The request body must be a JSON array of records, such as [{\"TimeGenerated\": \"...\", ...}].",
        ),
        RecordsError::Record(message) => ApiError::bad_request("InvalidDataFormat", message),
    })?;
    drop(text);
    if input.num_rows() == 0 {
        return Ok(0);
    }

    // Every flow is computed before anything is written: a request is all or nothing.
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let mut outputs: Vec<(&str, &str, RecordBatch)> = Vec::with_capacity(flows.len());
    for flow in flows {
        let (fields, batch) = transform(&state.transform_engine, flow, stream_columns, input.clone(), now)
            .await
            .map_err(|m| ApiError::bad_request("InvalidDataFormat", m))?;
        let (columns, fields) =
            state.destination_columns(&dcr.workspace_id, &flow.table, &fields).await?.ok_or_else(|| {
                ApiError::not_found(
                    "NotFound",
                    format!("The destination table '{}' of stream '{stream}' does not exist.", flow.table),
                )
            })?;
        let destination = Destination {
            table: &flow.table,
            columns: &columns,
            workspace_id: &dcr.workspace_id,
            now,
            defender_timestamp: vigil_catalog::standard::has_defender_timestamp(&flow.table),
        };
        let batch = coerce(&fields, &batch, &destination).map_err(|m| ApiError::bad_request("InvalidDataFormat", m))?;
        outputs.push((dcr.workspace_id.as_str(), flow.table.as_str(), batch));
    }
    // One transaction: a failure part-way must not leave one table written for the retry to
    // duplicate.
    state.store.append_all(outputs).await?;
    Ok(input.num_rows())
}

/// Reads at most 1 MiB of body; a larger one is refused as soon as it is seen to be larger.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ContentLengthLimitExceeded",
            format!(
                "The request body is larger than the limit of {MAX_BODY_BYTES} bytes; split it into smaller requests."
            ),
        )
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut data = Vec::with_capacity(declared.unwrap_or(64 * 1024));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request("InvalidRequest", format!("The request body could not be read: {e}")))?;
        if data.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

/// The body as text, gunzipped when `Content-Encoding: gzip`; the decompressed size has the
/// same limit as the compressed one.
fn decode_body(headers: &HeaderMap, raw: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    let encoding =
        headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(raw),
        "gzip" | "x-gzip" => {
            let mut decoded = Vec::with_capacity(raw.len() * 8);
            let mut reader = flate2::read::MultiGzDecoder::new(raw.as_slice()).take(MAX_BODY_BYTES as u64 + 1);
            reader.read_to_end(&mut decoded).map_err(|e| {
                ApiError::bad_request("InvalidContentEncoding", format!("The gzip body could not be decompressed: {e}"))
            })?;
            if decoded.len() > MAX_BODY_BYTES {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "ContentLengthLimitExceeded",
                    format!(
                        "The decompressed request body is larger than the limit of {MAX_BODY_BYTES} bytes; split it into smaller requests."
                    ),
                ));
            }
            Ok(decoded)
        }
        other => Err(ApiError::bad_request(
            "InvalidContentEncoding",
            format!("Content-Encoding '{other}' is not supported; send gzip or no encoding."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn gzip_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        headers
    }

    #[test]
    fn gzip_bodies_are_decoded_and_bounded() {
        assert_eq!(decode_body(&gzip_headers(), gzip(b"[1]")).unwrap(), b"[1]");
        let bomb = gzip(&vec![b' '; MAX_BODY_BYTES + 1]);
        assert!(bomb.len() < MAX_BODY_BYTES);
        assert_eq!(decode_body(&gzip_headers(), bomb).unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
        let mut truncated = gzip(b"[{\"a\": 1}]");
        truncated.truncate(truncated.len() - 6);
        let error = decode_body(&gzip_headers(), truncated).unwrap_err();
        assert_eq!((error.status, error.code), (StatusCode::BAD_REQUEST, "InvalidContentEncoding"));
    }
}
