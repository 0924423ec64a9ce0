//! Moving data along: flush (memtables to segments), compaction (an hour's small segments
//! into one), retention (dropping expired segments), deleting the files of dropped segments,
//! and the background tasks that run them.

use std::sync::Weak;
use std::time::Instant;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use tokio::sync::watch;

use crate::clock::now_nanos;
use crate::error::StoreError;
use crate::metadata::Metadata;
use crate::objects::SegmentStore;
use crate::segment::{EncodedSegment, HOUR_NANOS, Segment, decode_segment, encode_segments};
use crate::table::TableKey;
use crate::{State, Store, wal};

/// An hour with this many segments is compacted...
const COMPACT_AT_SEGMENTS: usize = 4;
/// ...and so is one with several that are this small together.
const SMALL_SEGMENTS_BYTES: u64 = 32 << 20;
/// Compaction reads its inputs into memory: it takes at most this much Parquet at once.
const MAX_COMPACTION_INPUT_BYTES: u64 = 512 << 20;
/// A dropped segment's file outlives its catalog row by this much, for queries that planned
/// with it before it was dropped.
const DELETION_GRACE_NANOS: i64 = 60 * 1_000_000_000;
const DAY_NANOS: i64 = 24 * HOUR_NANOS;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Table hours rewritten.
    pub groups: usize,
    pub segments_removed: usize,
    pub segments_written: usize,
    pub bytes_removed: u64,
    pub bytes_written: u64,
}

/// A table's frozen memtable on its way to segments.
struct FlushJob {
    key: TableKey,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    max_lsn: u64,
}

impl Store {
    /// Writes every memtable to segments now. New appends go to fresh memtables meanwhile. A
    /// table whose flush fails keeps its rows in memory (and the WAL) for the next flush.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _flushing = self.flushing.lock().await;
        let started = Instant::now();
        let wal_dir = self.config.data_dir.join("wal");
        let current_seq = self.wal.current_seq();
        let has_data = self.shared.lock().tables.values().any(|t| !t.active.is_empty() || t.frozen.is_some());
        if !has_data {
            // Files before the current one are all in memtables, which are empty: flushed.
            wal::remove_files_before(&wal_dir, current_seq)?;
            return Ok(());
        }
        // Rotate first: every file before the new one is then fully in the memtables frozen next.
        let new_seq = self.wal.rotate().await?;
        let mut first_error = None;
        for job in self.freeze() {
            let key = job.key.clone();
            if let Err(e) = self.flush_table(job).await {
                tracing::error!(table = %key, "flush failed, the rows stay in memory and the WAL: {e}");
                first_error.get_or_insert(e);
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        wal::remove_files_before(&wal_dir, new_seq)?;
        self.shared.metrics.flush_seconds.observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Moves each table's active memtable into its frozen one (which a failed flush may have
    /// left) and lists what to write.
    fn freeze(&self) -> Vec<FlushJob> {
        let mut state = self.shared.lock();
        let mut jobs = Vec::new();
        for (key, table) in state.tables.iter_mut() {
            if !table.active.is_empty() {
                let active = std::mem::take(&mut table.active);
                match &mut table.frozen {
                    Some(frozen) => frozen.absorb(active),
                    None => table.frozen = Some(active),
                }
            }
            if let Some(frozen) = &table.frozen {
                jobs.push(FlushJob {
                    key: key.clone(),
                    schema: table.stored_schema.clone(),
                    batches: frozen.batches.clone(),
                    max_lsn: frozen.max_lsn,
                });
            }
        }
        jobs
    }

    async fn flush_table(&self, job: FlushJob) -> Result<(), StoreError> {
        let FlushJob { key, schema, batches, max_lsn } = job;
        let now = now_nanos();
        let encoded = encode_blocking(key.clone(), schema, batches, now.div_euclid(HOUR_NANOS)).await?;
        self.put_segments(&encoded).await?;
        let segments = match self.metadata.commit_flush(&key, &encoded, max_lsn, now).await {
            Ok(segments) => segments,
            Err(e) => {
                self.discard(&encoded).await;
                return Err(e);
            }
        };
        let mut state = self.shared.lock();
        if let Some(table) = state.tables.get_mut(&key) {
            table.segments.extend(segments);
            table.flushed_lsn = max_lsn;
            let flushed_bytes = table.frozen.take().map_or(0, |frozen| frozen.bytes);
            state.memtable_bytes = state.memtable_bytes.saturating_sub(flushed_bytes);
        }
        self.update_gauges(&state);
        Ok(())
    }

    /// Puts the segments in the segment store, or none of them. Their paths are journaled
    /// first, so that a crash before they are committed leaves files the next `open` deletes.
    async fn put_segments(&self, segments: &[EncodedSegment]) -> Result<(), StoreError> {
        let paths: Vec<&str> = segments.iter().map(|s| s.path.as_str()).collect();
        self.metadata.journal_pending(&paths, now_nanos()).await?;
        for (index, segment) in segments.iter().enumerate() {
            if let Err(e) = self.segment_store.put(&segment.path, segment.data.clone()).await {
                self.discard(&segments[..index]).await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Deletes segments that were put but will not be committed. What cannot be deleted now
    /// stays journaled, for the next `open` to delete.
    async fn discard(&self, segments: &[EncodedSegment]) {
        let mut deleted = Vec::with_capacity(segments.len());
        for segment in segments {
            match self.segment_store.delete(&segment.path).await {
                Ok(()) => deleted.push(segment.path.as_str()),
                Err(e) => tracing::warn!("cannot delete uncommitted segment {}: {e}", segment.path),
            }
        }
        if !deleted.is_empty()
            && let Err(e) = self.metadata.forget_pending(&deleted).await
        {
            tracing::warn!("cannot update the journal of segments being written: {e}");
        }
    }

    fn update_gauges(&self, state: &State) {
        let metrics = &self.shared.metrics;
        metrics.memtable_bytes.set(state.memtable_bytes as i64);
        metrics.segments.set(state.tables.values().map(|t| t.segments.len() as i64).sum());
    }

    /// Rewrites each table hour that has many segments, or several small ones, into one sorted
    /// segment. The replaced files are deleted by a later retention pass, a grace period on.
    pub async fn compact(&self) -> Result<CompactionReport, StoreError> {
        self.check_open()?;
        let _maintaining = self.maintaining.lock().await;
        let plans: Vec<(TableKey, SchemaRef, i64, Vec<Segment>)> = {
            let state = self.shared.lock();
            state
                .tables
                .iter()
                .flat_map(|(key, table)| {
                    compaction_groups(&table.segments)
                        .into_iter()
                        .map(move |(hour, inputs)| (key.clone(), table.stored_schema.clone(), hour, inputs))
                })
                .collect()
        };
        let mut report = CompactionReport::default();
        for (key, schema, hour, inputs) in plans {
            let written = self.compact_group(&key, schema, hour, &inputs).await?;
            report.groups += 1;
            report.segments_removed += inputs.len();
            report.bytes_removed += inputs.iter().map(|s| s.bytes).sum::<u64>();
            report.segments_written += written.len();
            report.bytes_written += written.iter().map(|s| s.bytes).sum::<u64>();
        }
        Ok(report)
    }

    async fn compact_group(
        &self,
        key: &TableKey,
        schema: SchemaRef,
        hour: i64,
        inputs: &[Segment],
    ) -> Result<Vec<Segment>, StoreError> {
        let mut batches = Vec::new();
        for segment in inputs {
            let data = self.segment_store.get(&segment.path).await?;
            let path = segment.path.clone();
            let decoded = tokio::task::spawn_blocking(move || {
                decode_segment(data).map_err(|e| StoreError::Io(format!("cannot read segment {path}: {e}")))
            })
            .await
            .map_err(|e| StoreError::Io(format!("segment decoding stopped: {e}")))??;
            batches.extend(decoded);
        }
        let encoded = encode_blocking(key.clone(), schema, batches, hour).await?;
        self.put_segments(&encoded).await?;
        let removed: Vec<i64> = inputs.iter().map(|s| s.id).collect();
        let added = match self.metadata.replace_segments(key, &removed, &encoded, now_nanos()).await {
            Ok(added) => added,
            Err(e) => {
                self.discard(&encoded).await;
                return Err(e);
            }
        };
        let mut state = self.shared.lock();
        if let Some(table) = state.tables.get_mut(key) {
            table.segments.retain(|s| !removed.contains(&s.id));
            table.segments.extend(added.iter().cloned());
        }
        self.update_gauges(&state);
        Ok(added)
    }

    /// Drops the segments whose newest row is older than their table's retention allows at
    /// `now` (segments without times go by when they were written), and deletes the files of
    /// segments dropped at least a grace period before `now`. Returns the segments dropped.
    pub async fn apply_retention(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.check_open()?;
        let _maintaining = self.maintaining.lock().await;
        let now = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let expired: Vec<i64> = {
            let state = self.shared.lock();
            state
                .tables
                .values()
                .flat_map(|table| {
                    let cutoff = now.saturating_sub(i64::from(table.retention_days).saturating_mul(DAY_NANOS));
                    table.segments.iter().filter(move |s| s.max_time.unwrap_or(s.created_at) < cutoff).map(|s| s.id)
                })
                .collect()
        };
        if !expired.is_empty() {
            self.metadata.drop_segments(&expired, now).await?;
            let mut state = self.shared.lock();
            for table in state.tables.values_mut() {
                table.segments.retain(|s| !expired.contains(&s.id));
            }
            self.update_gauges(&state);
        }
        purge_dropped_segments(&self.metadata, &self.segment_store, now.saturating_sub(DELETION_GRACE_NANOS)).await?;
        Ok(expired.len())
    }
}

/// The segments to compact, by hour: for each UTC hour of the table (timed and untimed
/// segments apart, as a rewrite keeps them apart), the smallest segments up to the input
/// limit, when there are enough of them or they are small.
fn compaction_groups(segments: &[Segment]) -> Vec<(i64, Vec<Segment>)> {
    let mut by_hour: std::collections::BTreeMap<(i64, bool), Vec<Segment>> = Default::default();
    for segment in segments {
        by_hour.entry((segment.hour, segment.min_time.is_some())).or_default().push(segment.clone());
    }
    let mut groups = Vec::new();
    for ((hour, _), mut candidates) in by_hour {
        candidates.sort_by_key(|s| s.bytes);
        let mut total = 0;
        let chosen: Vec<Segment> = candidates
            .into_iter()
            .take_while(|s| {
                total += s.bytes;
                total <= MAX_COMPACTION_INPUT_BYTES
            })
            .collect();
        let chosen_bytes: u64 = chosen.iter().map(|s| s.bytes).sum();
        let worth_it =
            chosen.len() >= COMPACT_AT_SEGMENTS || (chosen.len() >= 2 && chosen_bytes < SMALL_SEGMENTS_BYTES);
        if worth_it {
            groups.push((hour, chosen));
        }
    }
    groups
}

async fn encode_blocking(
    key: TableKey,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    fallback_hour: i64,
) -> Result<Vec<EncodedSegment>, StoreError> {
    tokio::task::spawn_blocking(move || encode_segments(&key, &schema, &batches, fallback_hour))
        .await
        .map_err(|e| StoreError::Io(format!("segment encoding stopped: {e}")))?
}

/// Deletes the files of segments dropped at or before `cutoff`, then their catalog rows. A
/// file that cannot be deleted keeps its row, to be tried again.
pub(crate) async fn purge_dropped_segments(
    metadata: &Metadata,
    segment_store: &SegmentStore,
    cutoff: i64,
) -> Result<usize, StoreError> {
    let mut deleted = Vec::new();
    for (id, path) in metadata.dropped_before(cutoff).await? {
        match segment_store.delete(&path).await {
            Ok(()) => deleted.push(id),
            Err(e) => tracing::warn!("cannot delete dropped segment {path}, will retry: {e}"),
        }
    }
    if !deleted.is_empty() {
        metadata.forget_segments(&deleted).await?;
    }
    Ok(deleted.len())
}

/// Deletes the files of journaled segments that no flush or compaction committed (it crashed
/// between putting them and its transaction). Nothing else in the segment store is touched.
pub(crate) async fn delete_uncommitted_segments(
    metadata: &Metadata,
    segment_store: &SegmentStore,
) -> Result<(), StoreError> {
    let uncommitted = metadata.uncommitted_pending().await?;
    if uncommitted.is_empty() {
        return Ok(());
    }
    for path in &uncommitted {
        segment_store.delete(path).await?;
    }
    let paths: Vec<&str> = uncommitted.iter().map(String::as_str).collect();
    metadata.forget_pending(&paths).await?;
    tracing::warn!(deleted = uncommitted.len(), "deleted the segment files of flushes that did not commit");
    Ok(())
}

/// Flushes every `flush_interval`, and when the memtables reach `flush_bytes`. After a failed
/// flush it waits a whole interval, so a broken segment store is not hammered.
pub(crate) async fn flush_task(store: Weak<Store>, mut shutdown: watch::Receiver<bool>) {
    let mut failed = false;
    loop {
        let Some((interval, shared)) = store.upgrade().map(|s| (s.config.flush_interval, s.shared.clone())) else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shared.flush_wanted.notified(), if !failed => {}
            _ = shutdown.changed() => return,
        }
        let Some(store) = store.upgrade() else {
            return;
        };
        failed = match store.flush().await {
            Ok(()) => false,
            Err(e) => {
                tracing::error!("background flush failed: {e}");
                true
            }
        };
    }
}

/// Compacts and applies retention every `compaction_interval`.
pub(crate) async fn maintenance_task(store: Weak<Store>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let Some(interval) = store.upgrade().map(|s| s.config.compaction_interval) else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        let Some(store) = store.upgrade() else {
            return;
        };
        if let Err(e) = store.compact().await {
            tracing::error!("background compaction failed: {e}");
        }
        if let Err(e) = store.apply_retention(Utc::now()).await {
            tracing::error!("background retention failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(id: i64, hour: i64, bytes: u64) -> Segment {
        Segment {
            id,
            path: format!("ws/T/{id}.parquet"),
            hour,
            min_time: Some(hour * HOUR_NANOS),
            max_time: Some(hour * HOUR_NANOS + 1),
            received: None,
            rows: 1,
            bytes,
            created_at: 0,
        }
    }

    fn ids(groups: &[(i64, Vec<Segment>)]) -> Vec<(i64, Vec<i64>)> {
        groups.iter().map(|(hour, segments)| (*hour, segments.iter().map(|s| s.id).collect())).collect()
    }

    #[test]
    fn hours_with_four_segments_or_several_small_ones_are_compacted() {
        let big = 100 << 20;
        let segments = [
            segment(1, 10, big),
            segment(2, 10, big),
            segment(3, 10, big),
            segment(4, 10, big),
            segment(5, 11, 1 << 20),
            segment(6, 11, 2 << 20),
            segment(7, 12, big),
            segment(8, 12, big),
            segment(9, 13, 1 << 20),
        ];
        assert_eq!(ids(&compaction_groups(&segments)), vec![(10, vec![1, 2, 3, 4]), (11, vec![5, 6])]);
    }

    #[test]
    fn compaction_input_is_bounded_and_timed_rows_stay_apart_from_untimed() {
        let huge = 200 << 20;
        let mut untimed = segment(9, 5, 1 << 10);
        untimed.min_time = None;
        untimed.max_time = None;
        let segments = [segment(1, 5, huge), segment(2, 5, huge), segment(3, 5, huge), segment(4, 5, huge), untimed];
        // Only two of the 200 MiB segments fit the input limit, and they are not small.
        assert_eq!(ids(&compaction_groups(&segments)), vec![]);
    }
}

#[cfg(test)]
mod crash_tests {
    use std::sync::Arc;
    use std::time::Duration;

    use datafusion::arrow::array::{ArrayRef, Int64Array, TimestampNanosecondArray};
    use vigil_kql_functions::types::arrow_schema;
    use vigil_kql_functions::{KqlColumn, KqlType};

    use super::*;
    use crate::StoreConfig;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_files_of_a_flush_that_crashed_before_committing_are_deleted_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = StoreConfig {
            data_dir: dir.path().to_path_buf(),
            flush_interval: Duration::from_secs(24 * 3600),
            compaction_interval: Duration::from_secs(24 * 3600),
            ..StoreConfig::default()
        };
        let columns = [KqlColumn::new("TimeGenerated", KqlType::DateTime), KqlColumn::new("N", KqlType::Long)];
        let store = Store::open(config.clone()).await.expect("opens");
        store.define_table("ws", "T", &columns, None).await.expect("defines");
        let values: Vec<ArrayRef> = vec![
            Arc::new(TimestampNanosecondArray::from(vec![1_709_251_200_000_000_000])),
            Arc::new(Int64Array::from(vec![7])),
        ];
        let batch = RecordBatch::try_new(arrow_schema(&columns), values).expect("batch");
        store.append("ws", "T", batch).await.expect("appends");
        // A flush up to its put, then a crash before its catalog transaction.
        let job = store.freeze().pop().expect("a table to flush");
        let encoded = encode_blocking(job.key, job.schema, job.batches, 0).await.expect("encodes");
        store.put_segments(&encoded).await.expect("puts");
        let written = dir.path().join("segments").join(&encoded[0].path);
        assert!(written.exists());
        drop(store);

        let store = Store::open(config).await.expect("reopens");
        assert!(!written.exists(), "the uncommitted segment is deleted");
        assert!(store.segments("ws", "T").is_empty());
        assert_eq!(store.table_stats("ws", "T").rows, 1, "its row is replayed from the WAL");
        assert!(store.metadata.uncommitted_pending().await.expect("journal").is_empty());
        store.close().await.expect("closes");
    }
}
