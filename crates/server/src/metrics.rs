//! Prometheus metrics (`/metrics`): ingestion rate, bytes, rejects and latency; query
//! latency; the store's own (WAL, flushes, segments); and the rule scheduler's (runs, lag).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: u16,
}

pub struct Metrics {
    pub registry: Registry,
    pub ingest_requests: Family<StatusLabel, Counter>,
    pub ingest_records: Counter,
    /// Request bodies as received (compressed when gzip).
    pub ingest_bytes: Counter,
    /// Request bodies after decompression.
    pub ingest_uncompressed_bytes: Counter,
    pub ingest_seconds: Histogram,
    pub queries: Family<StatusLabel, Counter>,
    pub query_seconds: Histogram,
}

impl Metrics {
    pub fn new(store: &vigil_store::Store, detection: &vigil_detect::scheduler::SchedulerMetrics) -> Metrics {
        let mut registry = Registry::with_prefix("vigil");
        let ingest_requests = Family::<StatusLabel, Counter>::default();
        let ingest_records = Counter::default();
        let ingest_bytes = Counter::default();
        let ingest_uncompressed_bytes = Counter::default();
        let ingest_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let queries = Family::<StatusLabel, Counter>::default();
        let query_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 18));
        registry.register(
            "ingest_requests",
            "Logs Ingestion API requests by HTTP status (rejects are the 4xx and 5xx)",
            ingest_requests.clone(),
        );
        registry.register("ingest_records", "Records accepted and stored durably", ingest_records.clone());
        registry.register("ingest_bytes", "Request body bytes received, as sent", ingest_bytes.clone());
        registry.register(
            "ingest_uncompressed_bytes",
            "Request body bytes received, after gzip decompression",
            ingest_uncompressed_bytes.clone(),
        );
        registry.register("ingest_request_seconds", "Time to handle an ingestion request", ingest_seconds.clone());
        registry.register("queries", "Query API requests by HTTP status", queries.clone());
        registry.register("query_seconds", "Time to run a query", query_seconds.clone());
        store.register_metrics(registry.sub_registry_with_prefix("store"));
        detection.register(registry.sub_registry_with_prefix("detection"));
        Metrics {
            registry,
            ingest_requests,
            ingest_records,
            ingest_bytes,
            ingest_uncompressed_bytes,
            ingest_seconds,
            queries,
            query_seconds,
        }
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
