//! Appends read back through the KQL engine: from memtables, from Parquet segments, across
//! schema changes, compaction and retention, and the errors appends can get.

mod common;

use std::sync::Arc;

use chrono::{Duration as ChronoDuration, Utc};
use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray, TimestampNanosecondArray};
use datafusion::arrow::datatypes::TimestampNanosecondType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::Compression;
use vigil_kql::RunOptions;
use vigil_kql_functions::types::arrow_schema;
use vigil_kql_functions::{KqlColumn, KqlType, Value};
use vigil_store::{Store, StoreConfig, StoreError};

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn appended_rows_are_visible_to_queries_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "SecurityEvent").await;
    store.append(WORKSPACE, "SecurityEvent", hourly_events(MARCH_1, 5, 1)).await.expect("append");
    assert_eq!(count(&store, "SecurityEvent | count").await, 5);
    assert_eq!(count(&store, "SecurityEvent | where Computer == 'host-1' | count").await, 2);
    store.append(WORKSPACE, "SecurityEvent", hourly_events(MARCH_1, 2, 6)).await.expect("append");
    assert_eq!(event_ids(&store, "SecurityEvent").await, (1..=7).collect::<Vec<_>>());
    assert_eq!(store.table_names(WORKSPACE), vec!["SecurityEvent".to_string()]);
    assert!(store.table_names("other").is_empty());
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn flush_writes_sorted_zstd_parquet_per_hour_and_results_stay_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "T").await;
    // Out of order, over three hours, in two batches.
    let first = events(&[MARCH_1 + 2 * HOUR + 5, MARCH_1 + 10, MARCH_1 + HOUR + 7], 1);
    let second = events(&[MARCH_1 + 3, MARCH_1 + 2 * HOUR + 1, MARCH_1 + HOUR], 4);
    store.append(WORKSPACE, "T", first).await.expect("append");
    store.append(WORKSPACE, "T", second).await.expect("append");
    let summary = "T | summarize n = count(), first = min(TimeGenerated) by Computer | sort by Computer asc";
    let before = query(&store, summary).await;
    let ids_before = event_ids(&store, "T").await;

    store.flush().await.expect("flush");
    assert_eq!(query(&store, summary).await, before);
    assert_eq!(event_ids(&store, "T").await, ids_before);
    assert_eq!(store.stats().memtable_bytes, 0);

    let segments = store.segments(WORKSPACE, "T");
    assert_eq!(segments.len(), 3, "{segments:?}");
    for (hour, segment) in segments.iter().enumerate() {
        let hour_start = MARCH_1 + hour as i64 * HOUR;
        let (min, max) = (segment.min_time.expect("min"), segment.max_time.expect("max"));
        assert!(min.timestamp_nanos_opt() >= Some(hour_start), "{segment:?}");
        assert!(max.timestamp_nanos_opt() < Some(hour_start + HOUR), "{segment:?}");
        assert_eq!(segment.rows, 2);
        assert!(segment.path.starts_with(&format!("ws/T/2024-03-01/0{hour}/")), "{}", segment.path);
    }

    let files = files_under(&dir.path().join("segments"), "parquet");
    assert_eq!(files.len(), 3);
    for (file, segment) in files.iter().zip(&segments) {
        assert!(segments.iter().any(|s| file.ends_with(&s.path)), "{} is not a live segment", file.display());
        let data = bytes::Bytes::from(std::fs::read(file).expect("read segment"));
        let builder = ParquetRecordBatchReaderBuilder::try_new(data).expect("valid Parquet");
        let metadata = builder.metadata().clone();
        let row_group = metadata.row_group(0);
        for column in row_group.columns() {
            assert!(matches!(column.compression(), Compression::ZSTD(_)), "{:?}", column.compression());
        }
        let sorting = row_group.sorting_columns().expect("declared sorted");
        assert_eq!(sorting[0].column_idx, 0);
        let rows: Vec<RecordBatch> = builder.build().expect("reader").collect::<Result<_, _>>().expect("rows");
        let times: Vec<i64> =
            rows.iter().flat_map(|b| b.column(0).as_primitive::<TimestampNanosecondType>().values().to_vec()).collect();
        assert!(times.is_sorted(), "{times:?}");
        assert_eq!(times.len() as u64, segment.rows);
    }

    // Rows in memory and in segments together.
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 2, 7)).await.expect("append");
    assert_eq!(count(&store, "T | count").await, 8);
    assert_eq!(count(&store, "T | take 3 | count").await, 3);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn time_filters_read_only_the_segments_of_the_hours_they_allow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "T").await;
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 5, 1)).await.expect("append");
    store.flush().await.expect("flush");
    let segments = store.segments(WORKSPACE, "T");
    assert_eq!(segments.len(), 5);

    let from = MARCH_1 + 2 * HOUR;
    let to = from + HOUR / 2;
    let text = format!("T | where TimeGenerated between ({} .. {})", kql_datetime(from), kql_datetime(to));
    assert_eq!(event_ids(&store, &text).await, vec![3]);
    let engine = engine_for(&store);
    let plan = engine.explain(&text, store.catalog(WORKSPACE), RunOptions::default()).await.expect("explain");
    let read: Vec<&str> = segments.iter().map(|s| s.path.as_str()).filter(|path| plan.contains(*path)).collect();
    assert_eq!(read, vec![segments[2].path.as_str()], "{plan}");

    let open_ended = format!("T | where TimeGenerated >= {}", kql_datetime(MARCH_1 + 3 * HOUR));
    assert_eq!(event_ids(&store, &open_ended).await, vec![4, 5]);
    let plan = engine.explain(&open_ended, store.catalog(WORKSPACE), RunOptions::default()).await.expect("explain");
    let read: Vec<&str> = segments.iter().map(|s| s.path.as_str()).filter(|path| plan.contains(*path)).collect();
    assert_eq!(read, vec![segments[3].path.as_str(), segments[4].path.as_str()], "{plan}");

    let nothing = format!("T | where TimeGenerated < {} | count", kql_datetime(MARCH_1 - HOUR));
    assert_eq!(count(&store, &nothing).await, 0);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn new_columns_read_as_empty_in_older_segments_memtables_and_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "T").await;
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 2, 1)).await.expect("append");
    store.flush().await.expect("flush");
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 1, 3)).await.expect("append");

    let mut evolved = event_columns();
    evolved.push(KqlColumn::new("Account", KqlType::String));
    evolved.push(KqlColumn::new("Logon", KqlType::Long));
    store.define_table(WORKSPACE, "T", &evolved, None).await.expect("evolve");
    assert_eq!(store.table_columns(WORKSPACE, "T"), Some(evolved.clone()));
    let columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(TimestampNanosecondArray::from(vec![MARCH_1 + 1])),
        Arc::new(StringArray::from(vec!["host-9"])),
        Arc::new(Int64Array::from(vec![4])),
        Arc::new(StringArray::from(vec!["alice"])),
        Arc::new(Int64Array::from(vec![Some(10)])),
    ];
    let new_row = RecordBatch::try_new(arrow_schema(&evolved), columns).expect("batch");
    store.append(WORKSPACE, "T", new_row).await.expect("append with the new columns");

    let text = "T | project EventID, Account, Logon | sort by EventID asc";
    let expected = vec![
        vec![Value::Long(1), Value::String(String::new()), Value::Null],
        vec![Value::Long(2), Value::String(String::new()), Value::Null],
        vec![Value::Long(3), Value::String(String::new()), Value::Null],
        vec![Value::Long(4), Value::String("alice".to_string()), Value::Long(10)],
    ];
    assert_eq!(query(&store, text).await, expected);
    store.flush().await.expect("flush");
    assert_eq!(query(&store, text).await, expected);

    // Removing or retyping a column is refused; the definition survives a restart.
    let removed = store.define_table(WORKSPACE, "T", &event_columns()[..2], None).await.expect_err("removal");
    assert!(matches!(removed, StoreError::Schema(_)), "{removed:?}");
    let mut retyped = evolved.clone();
    retyped[2] = KqlColumn::new("EventID", KqlType::String);
    let retyped = store.define_table(WORKSPACE, "T", &retyped, None).await.expect_err("retype");
    assert!(matches!(&retyped, StoreError::Schema(m) if m.contains("EventID")), "{retyped:?}");
    // A batch built before the table grew (the columns it had then) appends, the new columns
    // empty: ingestion does not race with a definition that grows the table.
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 1, 5)).await.expect("a batch of the table's first columns");
    drop(store);

    let store = open(dir.path()).await;
    assert_eq!(store.table_columns(WORKSPACE, "T"), Some(evolved));
    assert_eq!(count(&store, "T | where isnotempty(Account) | count").await, 1);
    assert_eq!(count(&store, "T | where EventID == 5 and isempty(Account) and isnull(Logon) | count").await, 1);
    assert_eq!(count(&store, "T | count").await, 5);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn compaction_merges_an_hours_segments_without_changing_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    // Retention long enough that the retention passes below only delete replaced files.
    store.define_table(WORKSPACE, "T", &event_columns(), Some(36_500)).await.expect("define");
    for round in 0..5 {
        let times: Vec<i64> = (0..4).map(|i| MARCH_1 + HOUR + (i * 5 + round) * 1_000_000_000).collect();
        store.append(WORKSPACE, "T", events(&times, round * 4 + 1)).await.expect("append");
        store.flush().await.expect("flush");
    }
    // A lone segment in another hour stays as it is.
    store.append(WORKSPACE, "T", events(&[MARCH_1 + 5 * HOUR], 100)).await.expect("append");
    store.flush().await.expect("flush");
    let before_segments = store.segments(WORKSPACE, "T");
    assert_eq!(before_segments.len(), 6);
    let summary =
        "T | summarize n = count(), ids = array_sort_asc(make_set(EventID)) by Computer | sort by Computer asc";
    let before = query(&store, summary).await;
    let ordered = "T | sort by TimeGenerated asc, EventID asc | project EventID";
    let before_order = query(&store, ordered).await;

    let report = store.compact().await.expect("compact");
    assert_eq!((report.groups, report.segments_removed, report.segments_written), (1, 5, 1), "{report:?}");
    let after_segments = store.segments(WORKSPACE, "T");
    assert_eq!(after_segments.len(), 2);
    assert_eq!(after_segments[0].rows, 20);
    assert_eq!(after_segments[1], before_segments[5]);
    assert_eq!(query(&store, summary).await, before);
    assert_eq!(query(&store, ordered).await, before_order);
    assert_eq!(store.compact().await.expect("compact again"), Default::default());

    // The replaced files stay for queries already planned, and go a grace period later.
    let segments_dir = dir.path().join("segments");
    assert_eq!(files_under(&segments_dir, "parquet").len(), 7);
    assert_eq!(store.apply_retention(Utc::now()).await.expect("retention"), 0);
    assert_eq!(files_under(&segments_dir, "parquet").len(), 7);
    store.apply_retention(Utc::now() + ChronoDuration::seconds(61)).await.expect("retention");
    assert_eq!(files_under(&segments_dir, "parquet").len(), 2);
    assert_eq!(query(&store, summary).await, before);
    drop(store);

    let store = open(dir.path()).await;
    assert_eq!(store.segments(WORKSPACE, "T"), after_segments);
    assert_eq!(query(&store, summary).await, before);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_drops_segments_older_than_the_tables_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    store.define_table(WORKSPACE, "Short", &event_columns(), Some(2)).await.expect("define");
    store.define_table(WORKSPACE, "Long", &event_columns(), None).await.expect("define");
    let now = Utc::now().timestamp_nanos_opt().expect("now in range");
    let day = 24 * HOUR;
    for table in ["Short", "Long"] {
        store.append(WORKSPACE, table, events(&[now - 10 * day, now - 3 * day, now - HOUR], 1)).await.expect("append");
    }
    store.flush().await.expect("flush");
    assert_eq!(store.segments(WORKSPACE, "Short").len(), 3);

    assert_eq!(store.apply_retention(Utc::now()).await.expect("retention"), 2);
    assert_eq!(event_ids(&store, "Short").await, vec![3]);
    assert_eq!(event_ids(&store, "Long").await, vec![1, 2, 3]);
    assert_eq!(store.segments(WORKSPACE, "Short").len(), 1);
    let short_files = || files_under(&dir.path().join("segments").join(WORKSPACE).join("Short"), "parquet");
    assert_eq!(short_files().len(), 3, "files stay for a grace period");
    assert_eq!(store.apply_retention(Utc::now() + ChronoDuration::seconds(61)).await.expect("retention"), 0);
    assert_eq!(short_files().len(), 1);

    // Shortening a table's retention applies at the next pass.
    store.define_table(WORKSPACE, "Long", &event_columns(), Some(5)).await.expect("redefine");
    assert_eq!(store.apply_retention(Utc::now()).await.expect("retention"), 1);
    assert_eq!(event_ids(&store, "Long").await, vec![2, 3]);
    let zero = store.define_table(WORKSPACE, "Long", &event_columns(), Some(0)).await.expect_err("zero days");
    assert!(matches!(zero, StoreError::Schema(_)));
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_to_unknown_tables_or_with_the_wrong_schema_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "T").await;
    let unknown = store.append(WORKSPACE, "Nope", hourly_events(MARCH_1, 1, 1)).await.expect_err("unknown table");
    assert_eq!(unknown, StoreError::UnknownTable("table 'Nope' is not defined in workspace 'ws'".to_string()));
    let other_workspace = store.append("other", "T", hourly_events(MARCH_1, 1, 1)).await.expect_err("other ws");
    assert_eq!(other_workspace, StoreError::UnknownTable("table 'T' is not defined in workspace 'other'".to_string()));

    // The table's columns in another order: not the first columns of the table.
    let columns = event_columns();
    let swapped = RecordBatch::try_new(
        arrow_schema(&[columns[1].clone(), columns[0].clone()]),
        vec![Arc::new(StringArray::from(vec!["h"])), Arc::new(TimestampNanosecondArray::from(vec![MARCH_1]))],
    )
    .expect("batch");
    let error = store.append(WORKSPACE, "T", swapped).await.expect_err("columns out of order");
    assert!(matches!(&error, StoreError::Schema(_)), "{error:?}");

    let mut retyped = event_columns();
    retyped[2] = KqlColumn::new("EventID", KqlType::Real);
    let wrong_type = RecordBatch::try_new(
        arrow_schema(&retyped),
        vec![
            Arc::new(TimestampNanosecondArray::from(vec![MARCH_1])),
            Arc::new(StringArray::from(vec!["h"])),
            Arc::new(datafusion::arrow::array::Float64Array::from(vec![1.5])),
        ],
    )
    .expect("batch");
    let error = store.append(WORKSPACE, "T", wrong_type).await.expect_err("wrong type");
    assert!(matches!(&error, StoreError::Schema(m) if m.contains("EventID") && m.contains("Float64")), "{error:?}");

    let bad_name = store.define_table(WORKSPACE, "../escape", &event_columns(), None).await.expect_err("bad name");
    assert!(matches!(bad_name, StoreError::Schema(_)));
    assert_eq!(count(&store, "T | count").await, 0);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_beyond_the_memtable_limit_are_overloaded_until_a_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = hourly_events(MARCH_1, 100, 1);
    let config = StoreConfig { max_memtable_bytes: batch.get_array_memory_size() * 3 / 2, ..config(dir.path()) };
    let store = Store::open(config).await.expect("open");
    store.define_table(WORKSPACE, "T", &event_columns(), None).await.expect("define");
    store.append(WORKSPACE, "T", batch.clone()).await.expect("first append fits");
    assert_eq!(store.append(WORKSPACE, "T", batch.clone()).await, Err(StoreError::Overloaded));
    store.flush().await.expect("flush");
    store.append(WORKSPACE, "T", batch).await.expect("fits again after the flush");
    assert_eq!(count(&store, "T | count").await, 200);

    store.close().await.expect("close");
    let closed = store.append(WORKSPACE, "T", hourly_events(MARCH_1, 1, 1)).await;
    assert_eq!(closed, Err(StoreError::Closed));
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_exported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "T").await;
    store.append(WORKSPACE, "T", hourly_events(MARCH_1, 3, 1)).await.expect("append");
    store.flush().await.expect("flush");
    let mut registry = prometheus_client::registry::Registry::with_prefix("vigil_store");
    store.register_metrics(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    for line in ["vigil_store_appends_total 1", "vigil_store_wal_syncs_total 1", "vigil_store_segments 3"] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    for name in
        ["vigil_store_wal_sync_seconds_bucket", "vigil_store_flush_seconds_count 1", "vigil_store_memtable_bytes 0"]
    {
        assert!(text.contains(name), "no `{name}` in\n{text}");
    }
    store.close().await.expect("close");
}

/// A datetime literal for KQL.
pub fn kql_datetime(nanos: i64) -> String {
    let time = chrono::DateTime::from_timestamp_nanos(nanos);
    format!("datetime({})", time.format("%Y-%m-%dT%H:%M:%S%.9fZ"))
}

/// The event ids of the rows received in `(after, until]`.
async fn received_ids(store: &Arc<Store>, after: i64, until: i64) -> Vec<i64> {
    event_ids_in(store, store.received_catalog(WORKSPACE, after, until), "SecurityEvent").await
}

#[tokio::test(flavor = "multi_thread")]
async fn ingestion_time_windows_see_each_row_once_across_flushes_and_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_with_events_table(dir.path(), "SecurityEvent").await;
    let start = store.received_horizon();
    // Old event times: ingestion time, not TimeGenerated, decides the window.
    store.append(WORKSPACE, "SecurityEvent", hourly_events(MARCH_1, 3, 1)).await.expect("append");
    let first_window_end = store.received_horizon();
    assert!(*store.subscribe_commits().borrow() <= first_window_end);
    store.flush().await.expect("flush");
    store.append(WORKSPACE, "SecurityEvent", hourly_events(MARCH_1, 2, 4)).await.expect("append");
    let second_window_end = store.received_horizon();
    assert_eq!(received_ids(&store, start, first_window_end).await, vec![1, 2, 3]);
    assert_eq!(received_ids(&store, first_window_end, second_window_end).await, vec![4, 5]);
    assert_eq!(received_ids(&store, second_window_end, store.received_horizon()).await, Vec::<i64>::new());
    // The ingestion time is kept, not shown: `*` has the table's own columns.
    let columns = store.table_columns(WORKSPACE, "SecurityEvent").expect("table");
    let all = query(&store, "SecurityEvent | take 1").await;
    assert_eq!(all[0].len(), columns.len());
    store.close().await.expect("close");

    let store = open(dir.path()).await;
    assert_eq!(received_ids(&store, start, first_window_end).await, vec![1, 2, 3], "segment after restart");
    assert_eq!(received_ids(&store, first_window_end, second_window_end).await, vec![4, 5], "WAL after restart");
    assert!(store.received_horizon() > second_window_end, "stamps after a restart follow the replayed ones");
    store.close().await.expect("close");
}
