//! The store's Prometheus metrics. Each metric is a cheap handle on shared counters, so the
//! WAL writer thread and the store update the same values that `register_metrics` exports.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone)]
pub(crate) struct StoreMetrics {
    pub wal_bytes: Counter,
    pub appends: Counter,
    pub wal_syncs: Counter,
    pub wal_sync_seconds: Histogram,
    pub flush_seconds: Histogram,
    pub segments: Gauge,
    pub memtable_bytes: Gauge,
}

impl StoreMetrics {
    pub fn new() -> StoreMetrics {
        StoreMetrics {
            wal_bytes: Counter::default(),
            appends: Counter::default(),
            wal_syncs: Counter::default(),
            // 50 µs to about 3 s: an fsync on NVMe to one on a struggling network disk.
            wal_sync_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            // 1 ms to about 33 s.
            flush_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            segments: Gauge::default(),
            memtable_bytes: Gauge::default(),
        }
    }

    /// Registers the metrics without a prefix of their own: the caller chooses where they go
    /// (the server puts them under `vigil_store_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register("wal_bytes", "Bytes written to the write-ahead log", self.wal_bytes.clone());
        registry.register("appends", "Batches appended and acknowledged", self.appends.clone());
        registry.register("wal_syncs", "fsyncs of the write-ahead log (one per group commit)", self.wal_syncs.clone());
        registry.register(
            "wal_sync_seconds",
            "Time to write and fsync one group of appends",
            self.wal_sync_seconds.clone(),
        );
        registry.register(
            "flush_seconds",
            "Time to flush the memtables to Parquet segments",
            self.flush_seconds.clone(),
        );
        registry.register("segments", "Live Parquet segments in the catalog", self.segments.clone());
        registry.register("memtable_bytes", "Bytes held in memtables, not yet flushed", self.memtable_bytes.clone());
    }
}
