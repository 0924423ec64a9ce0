//! Vigil's storage engine: appended batches go to a write-ahead log and an in-memory
//! memtable, are flushed to sorted Parquet segments (one per table and UTC hour) on an object
//! store, compacted, and expired by retention. A SQLite catalog (`store.db`) holds table
//! schemas and says which segments exist. Queries read a table through a `vigil_catalog::Catalog`
//! whose scans union the segments that overlap the query's time range with the memtables.
//!
//! Entry points: `Store::open`, `Store::define_table`, `Store::append`, `Store::catalog`.
//!
//! Architecture invariant: `append` returns Ok only once the batch is fsynced in the WAL, and
//! every acknowledged batch is in exactly one of: a memtable (and the WAL), or a segment
//! recorded in the catalog with the table's `flushed_lsn` at or past the batch's LSN.
//!
//! Architecture invariant: this crate knows nothing of HTTP; the server maps `StoreError`s.

mod clock;
mod error;
mod maintenance;
mod metadata;
mod metrics;
mod objects;
mod provider;
mod segment;
mod table;
mod wal;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use vigil_kql_functions::KqlColumn;

pub use clock::RECEIVED_COLUMN;
pub use error::StoreError;
pub use maintenance::CompactionReport;
pub use segment::SegmentInfo;

use clock::ReceivedClock;
use metadata::Metadata;
use metrics::StoreMetrics;
use objects::SegmentStore;
use provider::{Snapshot, WorkspaceCatalog};
use table::{
    DEFAULT_RETENTION_DAYS, TableKey, TableState, check_batch_schema, check_name, evolve_columns, with_received,
};
use wal::{Committed, Wal};

/// Locks `data_dir` for this process, or fails if another open store holds it.
fn lock_data_dir(data_dir: &Path) -> Result<File, StoreError> {
    let path = data_dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Io(format!(
            "{} is in use by another open store (its LOCK file is locked)",
            data_dir.display()
        ))),
        Err(TryLockError::Error(e)) => Err(StoreError::Io(format!("cannot lock {}: {e}", path.display()))),
    }
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Holds the WAL (`wal/`), the catalog database (`store.db`) and, unless `segments_url`
    /// says otherwise, the segments (`segments/`).
    pub data_dir: PathBuf,
    /// Object store URL for Parquet segments (`file:///path`, `s3://bucket/prefix`,
    /// `az://container/prefix`); `None` is `{data_dir}/segments`.
    pub segments_url: Option<String>,
    /// Memtables are flushed at least this often.
    pub flush_interval: Duration,
    /// ...and as soon as they hold this many bytes.
    pub flush_bytes: usize,
    /// Beyond this many unflushed bytes, `append` answers `Overloaded`...
    pub max_memtable_bytes: usize,
    /// ...and beyond this many in one workspace's tables, appends to that workspace do, so
    /// that one workspace's flood leaves room for the others' rows.
    pub max_workspace_memtable_bytes: usize,
    /// How often compaction and retention run.
    pub compaction_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            data_dir: PathBuf::from("./vigil-data"),
            segments_url: None,
            flush_interval: Duration::from_secs(30),
            flush_bytes: 128 << 20,
            max_memtable_bytes: 1 << 30,
            max_workspace_memtable_bytes: 512 << 20,
            compaction_interval: Duration::from_secs(300),
        }
    }
}

/// Counters of the store's work since it opened (the same numbers `register_metrics` exports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Batches appended and acknowledged.
    pub appends: u64,
    /// fsyncs of the WAL: one per group of appends committed together.
    pub wal_syncs: u64,
    pub wal_bytes: u64,
    pub memtable_bytes: u64,
    pub segments: u64,
}

/// What a table holds: rows and bytes (segments plus memtables), and its newest event and
/// ingestion times in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    pub rows: u64,
    pub bytes: u64,
    pub last_event: Option<i64>,
    pub last_received: Option<i64>,
}

pub struct Store {
    config: StoreConfig,
    shared: Arc<Shared>,
    wal: Wal,
    metadata: Metadata,
    segment_store: SegmentStore,
    closed: AtomicBool,
    /// Serializes table definitions, whose new columns depend on the current ones.
    definitions: tokio::sync::Mutex<()>,
    /// One flush at a time: a flush owns the frozen memtables.
    flushing: tokio::sync::Mutex<()>,
    /// One compaction or retention pass at a time: both replace the segment list.
    maintaining: tokio::sync::Mutex<()>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Held until `close` or drop: two stores writing one WAL would corrupt it.
    data_dir_lock: Mutex<Option<File>>,
}

/// What the WAL writer thread shares with the store.
struct Shared {
    state: Mutex<State>,
    metrics: StoreMetrics,
    /// Wakes the flush task when memtables reach `flush_bytes` (or appends are refused).
    flush_wanted: Notify,
    flush_bytes: usize,
    clock: Arc<ReceivedClock>,
}

#[derive(Default)]
struct State {
    tables: BTreeMap<TableKey, TableState>,
    /// Bytes in all memtables, active and frozen.
    memtable_bytes: usize,
}

impl State {
    /// Unflushed bytes in one workspace's tables, active and frozen.
    fn workspace_memtable_bytes(&self, workspace: &str) -> usize {
        self.tables
            .range(TableKey::new(workspace, "")..)
            .take_while(|(key, _)| key.workspace == workspace)
            .map(|(_, table)| table.active.bytes + table.frozen.as_ref().map_or(0, |frozen| frozen.bytes))
            .sum()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data, still consistent between updates.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts committed appends into their memtables: from here on queries see them.
    fn apply(&self, committed: Vec<Committed>) {
        let mut state = self.lock();
        for append in committed {
            let batch = match with_received(append.batch, append.received) {
                Ok(batch) => batch,
                Err(e) => {
                    // Only a batch whose schema does not take one more column gets here, and
                    // `append` checked the schema: the row stays in the WAL for the next start.
                    tracing::error!(table = %append.key, lsn = append.lsn, "cannot stamp a committed append: {e}");
                    continue;
                }
            };
            let bytes = batch.get_array_memory_size();
            match state.tables.get_mut(&append.key) {
                Some(table) => table.active.push(append.lsn, batch, bytes),
                None => {
                    // `append` checks the table exists and tables are never removed.
                    tracing::error!(table = %append.key, lsn = append.lsn, "committed append for an unknown table");
                    continue;
                }
            }
            state.memtable_bytes += bytes;
        }
        self.metrics.memtable_bytes.set(state.memtable_bytes as i64);
        if state.memtable_bytes >= self.flush_bytes {
            self.flush_wanted.notify_one();
        }
    }
}

impl Store {
    /// Opens the store in `config.data_dir`: creates what is missing, replays the WAL into the
    /// memtables, deletes the segment files of flushes that did not commit (journaled, so
    /// that files the store did not write are never touched), and starts the background flush and maintenance tasks.
    pub async fn open(config: StoreConfig) -> Result<Arc<Store>, StoreError> {
        let wal_dir = config.data_dir.join("wal");
        std::fs::create_dir_all(&wal_dir)
            .map_err(|e| StoreError::Io(format!("cannot create the WAL folder {}: {e}", wal_dir.display())))?;
        let data_dir_lock = lock_data_dir(&config.data_dir)?;
        let segment_store = SegmentStore::open(config.segments_url.as_deref(), &config.data_dir.join("segments"))?;
        let metadata = Metadata::open(&config.data_dir.join("store.db")).await?;
        let mut state = State::default();
        for stored in metadata.load().await? {
            let mut table = TableState::new(stored.columns, stored.retention_days, stored.flushed_lsn);
            table.segments = stored.segments;
            state.tables.insert(stored.key, table);
        }
        maintenance::purge_dropped_segments(&metadata, &segment_store, i64::MAX).await?;
        maintenance::delete_uncommitted_segments(&metadata, &segment_store).await?;

        let mut highest_lsn = state.tables.values().map(|t| t.flushed_lsn).max().unwrap_or(0);
        let mut latest_received = state
            .tables
            .values()
            .flat_map(|t| t.segments.iter().filter_map(|s| s.received.map(|(_, max)| max)))
            .max()
            .unwrap_or(0);
        let (mut replayed, mut skipped) = (0usize, 0usize);
        let last_seq = wal::replay(&wal_dir, |record| {
            highest_lsn = highest_lsn.max(record.lsn);
            latest_received = latest_received.max(record.received);
            let Some(table) = state.tables.get_mut(&record.key) else {
                return Err(StoreError::Io(format!(
                    "the WAL holds an append (LSN {}) to table {} which the catalog {} does not define",
                    record.lsn,
                    record.key,
                    config.data_dir.join("store.db").display()
                )));
            };
            if record.lsn <= table.flushed_lsn {
                skipped += 1;
                return Ok(());
            }
            let batch = with_received(record.batch, record.received)
                .map_err(|e| StoreError::Io(format!("cannot stamp WAL record {}: {e}", record.lsn)))?;
            table.active.push(record.lsn, batch, record.encoded_bytes);
            state.memtable_bytes += record.encoded_bytes;
            replayed += 1;
            Ok(())
        })?;
        tracing::info!(replayed, skipped, "replayed the WAL");

        let metrics = StoreMetrics::new();
        metrics.memtable_bytes.set(state.memtable_bytes as i64);
        metrics.segments.set(state.tables.values().map(|t| t.segments.len() as i64).sum());
        let clock = Arc::new(ReceivedClock::new(latest_received));
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            metrics: metrics.clone(),
            flush_wanted: Notify::new(),
            flush_bytes: config.flush_bytes,
            clock: clock.clone(),
        });
        if shared.lock().memtable_bytes >= shared.flush_bytes {
            shared.flush_wanted.notify_one();
        }
        let writer_shared = shared.clone();
        let wal = Wal::start(
            &wal_dir,
            last_seq.map_or(1, |seq| seq + 1),
            highest_lsn + 1,
            clock,
            metrics,
            Box::new(wal::create_file),
            move |committed| writer_shared.apply(committed),
        )?;
        let (shutdown, _) = watch::channel(false);
        let store = Arc::new(Store {
            config,
            shared,
            wal,
            metadata,
            segment_store,
            closed: AtomicBool::new(false),
            definitions: tokio::sync::Mutex::new(()),
            flushing: tokio::sync::Mutex::new(()),
            maintaining: tokio::sync::Mutex::new(()),
            shutdown,
            tasks: Mutex::new(Vec::new()),
            data_dir_lock: Mutex::new(Some(data_dir_lock)),
        });
        let tasks = vec![
            tokio::spawn(maintenance::flush_task(Arc::downgrade(&store), store.shutdown.subscribe())),
            tokio::spawn(maintenance::maintenance_task(Arc::downgrade(&store), store.shutdown.subscribe())),
        ];
        *store.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = tasks;
        Ok(store)
    }

    /// Creates a table, or evolves it: columns not yet defined are appended; existing columns
    /// must all be present with their types. `retention_days` `None` keeps the table's
    /// retention (90 days for a new table).
    pub async fn define_table(
        &self,
        workspace: &str,
        table: &str,
        columns: &[KqlColumn],
        retention_days: Option<u32>,
    ) -> Result<(), StoreError> {
        self.check_open()?;
        check_name("workspace", workspace)?;
        check_name("table", table)?;
        if retention_days == Some(0) {
            return Err(StoreError::Schema(format!("table '{table}': retention must be at least one day")));
        }
        let _defining = self.definitions.lock().await;
        let key = TableKey::new(workspace, table);
        let current = self.shared.lock().tables.get(&key).map(|t| (t.columns.clone(), t.retention_days));
        let existing_columns = current.as_ref().map(|(columns, _)| columns.as_slice()).unwrap_or_default();
        let columns = evolve_columns(table, existing_columns, columns)?;
        let retention_days =
            retention_days.or(current.as_ref().map(|(_, days)| *days)).unwrap_or(DEFAULT_RETENTION_DAYS);
        if current.as_ref().is_some_and(|(existing, days)| *existing == columns && *days == retention_days) {
            return Ok(());
        }
        self.metadata.define_table(&key, &columns, retention_days).await?;
        let mut state = self.shared.lock();
        match state.tables.get_mut(&key) {
            Some(existing) => {
                existing.set_columns(columns);
                existing.retention_days = retention_days;
            }
            None => {
                state.tables.insert(key, TableState::new(columns, retention_days, 0));
            }
        }
        Ok(())
    }

    pub fn table_columns(&self, workspace: &str, table: &str) -> Option<Vec<KqlColumn>> {
        self.shared.lock().tables.get(&TableKey::new(workspace, table)).map(|t| t.columns.clone())
    }

    pub fn table_names(&self, workspace: &str) -> Vec<String> {
        let state = self.shared.lock();
        state.tables.keys().filter(|key| key.workspace == workspace).map(|key| key.table.clone()).collect()
    }

    /// Appends a batch whose schema is `arrow_schema` of the table's columns. Returns once the
    /// batch is fsynced in the WAL; its rows are visible to queries from then on.
    pub async fn append(&self, workspace: &str, table: &str, batch: RecordBatch) -> Result<(), StoreError> {
        self.append_all(vec![(workspace, table, batch)]).await
    }

    /// Appends batches, each `(workspace, table, batch)`, as one transaction: after a crash or
    /// an error, either all of them are stored or none is, so a client that retries a failed
    /// request duplicates nothing. Returns once the transaction is fsynced in the WAL.
    pub async fn append_all(&self, batches: Vec<(&str, &str, RecordBatch)>) -> Result<(), StoreError> {
        self.check_open()?;
        let mut conformed = Vec::with_capacity(batches.len());
        {
            let state = self.shared.lock();
            let mut adding: BTreeMap<&str, usize> = BTreeMap::new();
            for (workspace, table, batch) in batches {
                let key = TableKey::new(workspace, table);
                let Some(definition) = state.tables.get(&key) else {
                    return Err(StoreError::UnknownTable(format!(
                        "table '{table}' is not defined in workspace '{workspace}'"
                    )));
                };
                // A batch built before the table grew (an open table gaining a column from
                // another request) has the table's first columns: the newer ones are empty in
                // its rows.
                let known = batch.num_columns().min(definition.columns.len());
                check_batch_schema(table, &definition.columns[..known], &batch.schema())?;
                if batch.num_rows() == 0 {
                    continue;
                }
                *adding.entry(workspace).or_default() += batch.get_array_memory_size();
                // The table's own schema, so every batch carries the columns' KQL type metadata.
                let mut columns = batch.columns().to_vec();
                for column in &definition.columns[known..] {
                    columns.push(datafusion::arrow::array::new_null_array(&column.ty.arrow(), batch.num_rows()));
                }
                let batch = RecordBatch::try_new(definition.schema.clone(), columns)
                    .map_err(|e| StoreError::Schema(format!("the batch does not fit table '{table}': {e}")))?;
                conformed.push((key, batch));
            }
            if conformed.is_empty() {
                return Ok(());
            }
            let workspace_full = adding.iter().any(|(workspace, added)| {
                state.workspace_memtable_bytes(workspace) + added > self.config.max_workspace_memtable_bytes
            });
            let bytes: usize = adding.values().sum();
            if workspace_full || state.memtable_bytes + bytes > self.config.max_memtable_bytes {
                self.shared.flush_wanted.notify_one();
                return Err(StoreError::Overloaded);
            }
        }
        let mut entries = Vec::with_capacity(conformed.len());
        let mut batches = Vec::with_capacity(conformed.len());
        for (key, batch) in conformed {
            entries.push(wal::Entry { key, ipc: wal::encode_batch(&batch)? });
            batches.push(batch);
        }
        let encoded = wal::body_bytes(&entries);
        if encoded > wal::MAX_BODY_BYTES {
            return Err(StoreError::Schema(format!(
                "the batches are {encoded} bytes encoded; one append may be at most 4 GiB: split it"
            )));
        }
        self.wal.append(batches, entries).await
    }

    /// Why the store refuses writes until it is restarted (its WAL could not be fsynced), if
    /// it does: the server is then not ready.
    pub fn write_failure(&self) -> Option<String> {
        self.wal.failure()
    }

    /// The stored tables of one workspace, for `vigil_kql::Engine::run`.
    pub fn catalog(self: &Arc<Self>, workspace: &str) -> Arc<dyn vigil_catalog::Catalog> {
        Arc::new(WorkspaceCatalog { store: self.clone(), workspace: workspace.to_string(), received: None })
    }

    /// The tables of one workspace restricted to the rows received in `(after, until]`
    /// (nanoseconds; see `received_horizon`): what a detection rule's run reads.
    pub fn received_catalog(
        self: &Arc<Self>,
        workspace: &str,
        after: i64,
        until: i64,
    ) -> Arc<dyn vigil_catalog::Catalog> {
        Arc::new(WorkspaceCatalog {
            store: self.clone(),
            workspace: workspace.to_string(),
            received: Some((after, until)),
        })
    }

    /// Every row received at or before this time (nanoseconds) is visible to queries, and every
    /// row that is not yet will be received later.
    pub fn received_horizon(&self) -> i64 {
        self.shared.clock.horizon()
    }

    /// Changes to the ingestion time of the newest visible rows: wakes up whoever reads each
    /// newly committed batch.
    pub fn subscribe_commits(&self) -> watch::Receiver<i64> {
        self.shared.clock.subscribe()
    }

    /// Lets queries run in `context` read segments: call once on the engine's session.
    pub fn register_object_store(&self, context: &SessionContext) {
        self.segment_store.register(context);
    }

    /// Stops the background tasks, flushes the memtables and closes the WAL and the catalog.
    /// Appends are refused from the start of the call. Whatever a failed flush could not write
    /// is still in the WAL for the next `open`.
    pub async fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.shutdown.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!("a store background task failed: {e}");
            }
        }
        let flushed = self.flush().await;
        let closed = self.wal.close().await;
        self.metadata.close().await;
        self.data_dir_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        flushed.and(closed)
    }

    /// Registers the store's metrics (`wal_bytes`, `appends`, `wal_syncs`, `wal_sync_seconds`,
    /// `flush_seconds`, `segments`, `memtable_bytes`) unprefixed: pass a prefixed sub-registry.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.shared.metrics.register(registry);
    }

    pub fn stats(&self) -> StoreStats {
        let metrics = &self.shared.metrics;
        StoreStats {
            appends: metrics.appends.get(),
            wal_syncs: metrics.wal_syncs.get(),
            wal_bytes: metrics.wal_bytes.get(),
            memtable_bytes: metrics.memtable_bytes.get().max(0) as u64,
            segments: metrics.segments.get().max(0) as u64,
        }
    }

    pub fn table_stats(&self, workspace: &str, table: &str) -> TableStats {
        let state = self.shared.lock();
        let Some(table) = state.tables.get(&TableKey::new(workspace, table)) else {
            return TableStats::default();
        };
        let mut stats = TableStats::default();
        for segment in &table.segments {
            stats.rows += segment.rows;
            stats.bytes += segment.bytes;
            stats.last_event = stats.last_event.max(segment.max_time);
            stats.last_received = stats.last_received.max(segment.received.map(|(_, max)| max));
        }
        for memtable in std::iter::once(&table.active).chain(table.frozen.as_ref()) {
            stats.bytes += memtable.bytes as u64;
            for batch in &memtable.batches {
                stats.rows += batch.num_rows() as u64;
                stats.last_event = stats.last_event.max(max_timestamp(batch, table::TIME_COLUMN));
                stats.last_received = stats.last_received.max(max_timestamp(batch, RECEIVED_COLUMN));
            }
        }
        stats
    }

    /// The table's live segments, oldest hour first.
    pub fn segments(&self, workspace: &str, table: &str) -> Vec<SegmentInfo> {
        let state = self.shared.lock();
        let Some(table) = state.tables.get(&TableKey::new(workspace, table)) else {
            return Vec::new();
        };
        let mut segments: Vec<_> = table.segments.iter().collect();
        segments.sort_by_key(|s| (s.hour, s.min_time, s.id));
        segments.into_iter().map(|s| s.info()).collect()
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) { Err(StoreError::Closed) } else { Ok(()) }
    }

    /// What a scan reads, taken under one lock: segments and memtables never both hold a row.
    fn snapshot(
        &self,
        key: &TableKey,
        lower: Option<i64>,
        upper: Option<i64>,
        received: Option<(i64, i64)>,
    ) -> Snapshot {
        let state = self.shared.lock();
        let Some(table) = state.tables.get(key) else {
            return Snapshot { segments: Vec::new(), batches: Vec::new() };
        };
        let segments = table
            .segments
            .iter()
            .filter(|s| s.overlaps(lower, upper))
            .filter(|s| received.is_none_or(|(after, until)| s.received_within(after, until)))
            .map(|s| (s.path.clone(), s.bytes))
            .collect();
        Snapshot { segments, batches: table.memtable_batches() }
    }

    fn segment_store_url(&self) -> ObjectStoreUrl {
        self.segment_store.query_url()
    }
}

fn max_timestamp(batch: &RecordBatch, column: &str) -> Option<i64> {
    use datafusion::arrow::array::TimestampNanosecondArray;
    let values = batch.column_by_name(column)?.as_any().downcast_ref::<TimestampNanosecondArray>()?;
    datafusion::arrow::compute::max(values)
}
