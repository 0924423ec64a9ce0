//! What the store's integration tests share: a configuration whose background tasks stay out
//! of the way, a SecurityEvent-like table, batches of it, and queries through the KQL engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampNanosecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use vigil_kql::{Engine, RunOptions};
use vigil_kql_functions::types::arrow_schema;
use vigil_kql_functions::{KqlColumn, KqlType, Value};
use vigil_store::{Store, StoreConfig};

pub const WORKSPACE: &str = "ws";
pub const HOUR: i64 = 3_600_000_000_000;
/// 2024-03-01T00:00:00Z.
pub const MARCH_1: i64 = 1_709_251_200_000_000_000;

/// Flushes, compaction and retention only when a test asks for them.
pub fn config(data_dir: &Path) -> StoreConfig {
    StoreConfig {
        data_dir: data_dir.to_path_buf(),
        flush_interval: Duration::from_secs(24 * 3600),
        compaction_interval: Duration::from_secs(24 * 3600),
        ..StoreConfig::default()
    }
}

pub fn event_columns() -> Vec<KqlColumn> {
    vec![
        KqlColumn::new("TimeGenerated", KqlType::DateTime),
        KqlColumn::new("Computer", KqlType::String),
        KqlColumn::new("EventID", KqlType::Long),
    ]
}

/// Events at the given times (nanoseconds), with `EventID` numbering them from `first_id`.
pub fn events(times: &[i64], first_id: i64) -> RecordBatch {
    let ids: Vec<i64> = (first_id..).take(times.len()).collect();
    let computers: Vec<String> = ids.iter().map(|id| format!("host-{}", id % 3)).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampNanosecondArray::from(times.to_vec())),
        Arc::new(StringArray::from(computers)),
        Arc::new(Int64Array::from(ids)),
    ];
    RecordBatch::try_new(arrow_schema(&event_columns()), columns).expect("a valid batch")
}

/// `count` events an hour apart from `start`.
pub fn hourly_events(start: i64, count: usize, first_id: i64) -> RecordBatch {
    let times: Vec<i64> = (0..count as i64).map(|i| start + i * HOUR).collect();
    events(&times, first_id)
}

pub async fn open(data_dir: &Path) -> Arc<Store> {
    Store::open(config(data_dir)).await.expect("the store opens")
}

pub async fn open_with_events_table(data_dir: &Path, table: &str) -> Arc<Store> {
    let store = open(data_dir).await;
    store.define_table(WORKSPACE, table, &event_columns(), None).await.expect("the table is defined");
    store
}

pub fn engine_for(store: &Store) -> Engine {
    let engine = Engine::new();
    store.register_object_store(engine.session());
    engine
}

/// The rows of a query's first result.
pub async fn query(store: &Arc<Store>, text: &str) -> Vec<Vec<Value>> {
    query_catalog(store, store.catalog(WORKSPACE), text).await
}

/// The rows of a query's first result over `catalog` (a view of the store's tables).
pub async fn query_catalog(
    store: &Arc<Store>,
    catalog: Arc<dyn vigil_catalog::Catalog>,
    text: &str,
) -> Vec<Vec<Value>> {
    let engine = engine_for(store);
    let result = engine.run(text, catalog, RunOptions::default()).await;
    let result = result.unwrap_or_else(|e| panic!("query `{text}` failed: {e:?}"));
    result.tables[0].rows()
}

/// The single long a query such as `T | count` returns.
pub async fn count(store: &Arc<Store>, text: &str) -> i64 {
    match query(store, text).await.as_slice() {
        [row] => match row.as_slice() {
            [Value::Long(n)] => *n,
            other => panic!("`{text}` returned {other:?}, not one long"),
        },
        rows => panic!("`{text}` returned {} rows, not one", rows.len()),
    }
}

/// The `EventID`s a query returns, sorted.
pub async fn event_ids(store: &Arc<Store>, text: &str) -> Vec<i64> {
    event_ids_in(store, store.catalog(WORKSPACE), text).await
}

/// The `EventID`s a query over `catalog` returns, sorted.
pub async fn event_ids_in(store: &Arc<Store>, catalog: Arc<dyn vigil_catalog::Catalog>, text: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = query_catalog(store, catalog, &format!("{text} | project EventID"))
        .await
        .into_iter()
        .map(|row| match row.as_slice() {
            [Value::Long(id)] => *id,
            other => panic!("expected an EventID, got {other:?}"),
        })
        .collect();
    ids.sort_unstable();
    ids
}

pub fn files_under(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path, extension));
        } else if path.extension().is_some_and(|e| e == extension) {
            found.push(path);
        }
    }
    found.sort();
    found
}
