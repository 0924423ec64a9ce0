//! The write-ahead log: every appended transaction (the batches of one request, to one table
//! or several) is in an fsynced WAL file before it is acknowledged, and is replayed from
//! there after a crash until a flush has put it in Parquet.
//!
//! Files are `{seq:020}.log`, written in order; a flush rotates to a new file and deletes the
//! older ones once everything in them is in segments. `format` says what a file holds. One
//! writer thread owns the current file and commits transactions in groups: it takes every
//! transaction waiting in its channel, writes them, and fsyncs once, so concurrent appends
//! share an fsync. A failed write is cut off the file and reported to its callers; a failed
//! fsync stops the log for good (the kernel may have dropped pages it could not write, so
//! what the file holds is no longer known) until a restart replays what reached the disk.

mod format;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use datafusion::arrow::record_batch::RecordBatch;
use tokio::sync::oneshot;

use crate::clock::ReceivedClock;
use crate::error::{StoreError, io_error};
use crate::metrics::StoreMetrics;
use crate::table::TableKey;

pub(crate) use format::{Entry, MAX_BODY_BYTES, body_bytes, encode_batch, replay};
use format::{FILE_HEADER, write_transaction};

/// Transactions committed under one fsync at most; the rest wait for the next group, so one
/// group cannot grow without bound while callers keep arriving.
const MAX_GROUP_TRANSACTIONS: usize = 4096;

pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:020}.log")
}

/// The WAL files in `dir`, oldest first.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(format!("cannot list {}", dir.display()), e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(format!("cannot list {}", dir.display()), e))?;
        let name = entry.file_name();
        let Some(seq) = name.to_str().and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        files.push((seq, entry.path()));
    }
    files.sort_by_key(|(seq, _)| *seq);
    Ok(files)
}

/// Deletes the WAL files older than `seq`: everything in them is in segments.
pub(crate) fn remove_files_before(dir: &Path, seq: u64) -> Result<usize, StoreError> {
    let mut removed = 0;
    for (file_seq, path) in list_files(dir)? {
        if file_seq >= seq {
            break;
        }
        std::fs::remove_file(&path).map_err(|e| io_error(format!("cannot delete {}", path.display()), e))?;
        removed += 1;
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Makes a directory's entries (a created, renamed or deleted file) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(format!("cannot fsync directory {}", dir.display()), e))
}

/// A batch the writer has made durable, in LSN order, for the memtables.
pub(crate) struct Committed {
    pub lsn: u64,
    pub received: i64,
    pub key: TableKey,
    pub batch: RecordBatch,
}

/// The batches of one transaction, with their encoded forms in the same order.
struct PendingTransaction {
    batches: Vec<RecordBatch>,
    entries: Vec<Entry>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

enum Command {
    Append(PendingTransaction),
    /// Start a new file; answers its sequence number.
    Rotate(oneshot::Sender<Result<u64, StoreError>>),
    /// Finish what is queued before this, fsync and stop.
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// What the writer needs of a WAL file: the real one is a `File`; tests substitute one that
/// fails on demand, as a full disk or a failing device would.
pub(crate) trait LogFile: Write + Send {
    fn sync_data(&mut self) -> std::io::Result<()>;
    /// Cuts the file back to `length` bytes and makes that durable.
    fn truncate(&mut self, length: u64) -> std::io::Result<()>;
}

impl LogFile for File {
    fn sync_data(&mut self) -> std::io::Result<()> {
        File::sync_data(self)
    }

    fn truncate(&mut self, length: u64) -> std::io::Result<()> {
        self.set_len(length)?;
        self.sync_all()
    }
}

/// Creates WAL file `seq` in a folder, with its header written and durable.
pub(crate) type CreateLogFile = Box<dyn Fn(&Path, u64) -> Result<Box<dyn LogFile>, StoreError> + Send>;

/// The WAL file `seq` in `dir`, created with its header and fsynced with its folder.
pub(crate) fn create_file(dir: &Path, seq: u64) -> Result<Box<dyn LogFile>, StoreError> {
    let path = dir.join(file_name(seq));
    let cannot = |e| io_error(format!("cannot create WAL file {}", path.display()), e);
    let mut file = OpenOptions::new().create_new(true).append(true).open(&path).map_err(cannot)?;
    file.write_all(&FILE_HEADER).and_then(|()| file.sync_all()).map_err(cannot)?;
    sync_dir(dir)?;
    Ok(Box::new(file))
}

/// The store's side of the writer thread.
pub(crate) struct Wal {
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    current_seq: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<String>>>,
}

impl Wal {
    /// Creates WAL file `seq` in `dir` with `create` and starts the writer thread, which
    /// numbers batches from `next_lsn` and hands each committed group to `apply` before
    /// acknowledging it.
    pub fn start(
        dir: &Path,
        seq: u64,
        next_lsn: u64,
        clock: Arc<ReceivedClock>,
        metrics: StoreMetrics,
        create: CreateLogFile,
        apply: impl FnMut(Vec<Committed>) + Send + 'static,
    ) -> Result<Wal, StoreError> {
        let file = create(dir, seq)?;
        let current_seq = Arc::new(AtomicU64::new(seq));
        let failure = Arc::new(Mutex::new(None));
        let writer = Writer {
            dir: dir.to_path_buf(),
            path: dir.join(file_name(seq)),
            file,
            file_length: FILE_HEADER.len() as u64,
            create,
            next_lsn,
            clock,
            failure: failure.clone(),
            current_seq: current_seq.clone(),
            metrics,
            apply,
        };
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("vigil-wal".to_string())
            .spawn(move || writer.run(receiver))
            .map_err(|e| io_error("cannot start the WAL writer thread", e))?;
        Ok(Wal { commands: Mutex::new(Some(sender)), thread: Mutex::new(Some(thread)), current_seq, failure })
    }

    /// Writes the batches to the WAL as one transaction and returns once it is fsynced and in
    /// the memtables. `entries` are `batches` encoded, in the same order.
    pub async fn append(&self, batches: Vec<RecordBatch>, entries: Vec<Entry>) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Append(PendingTransaction { batches, entries, done }))?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn rotate(&self) -> Result<u64, StoreError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Rotate(done))?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// The file appends go to now; every file before it is closed and fully in the memtables.
    pub fn current_seq(&self) -> u64 {
        self.current_seq.load(Ordering::Acquire)
    }

    /// Why the log refuses appends until a restart, if it does.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Lets the writer finish what is queued, fsync, and stop. Appends after this are `Closed`.
    pub async fn close(&self) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        let sent = self.send(Command::Close(done));
        self.commands.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let result = match sent {
            Ok(()) => answer.await.unwrap_or(Err(StoreError::Closed)),
            Err(_) => Ok(()),
        };
        let thread = self.thread.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(thread) = thread {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| io_error("cannot wait for the WAL writer thread", e))?
                .map_err(|_| StoreError::Io("the WAL writer thread panicked".to_string()))?;
        }
        result
    }

    fn send(&self, command: Command) -> Result<(), StoreError> {
        let commands = self.commands.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let sender = commands.as_ref().ok_or(StoreError::Closed)?;
        sender.send(command).map_err(|_| StoreError::Closed)
    }
}

/// How a group's write went wrong.
enum WriteFailure {
    /// Writing the bytes failed (a full file system): nothing was acknowledged, and the file
    /// can be cut back to where the group began.
    Write(std::io::Error),
    /// The fsync failed: the file's contents on disk are unknown from here on.
    Sync(std::io::Error),
}

struct Writer<F> {
    dir: PathBuf,
    path: PathBuf,
    file: Box<dyn LogFile>,
    file_length: u64,
    create: CreateLogFile,
    next_lsn: u64,
    clock: Arc<ReceivedClock>,
    /// Set when the file's end is unknown (a failed fsync, or a failed write that could not be
    /// undone): nothing more may be appended until a restart recovers it.
    failure: Arc<Mutex<Option<String>>>,
    current_seq: Arc<AtomicU64>,
    metrics: StoreMetrics,
    apply: F,
}

impl<F: FnMut(Vec<Committed>)> Writer<F> {
    fn run(mut self, commands: mpsc::Receiver<Command>) {
        while let Ok(first) = commands.recv() {
            let mut group = Vec::new();
            let mut control = None;
            match first {
                Command::Append(transaction) => group.push(transaction),
                other => control = Some(other),
            }
            while control.is_none() && group.len() < MAX_GROUP_TRANSACTIONS {
                match commands.try_recv() {
                    Ok(Command::Append(transaction)) => group.push(transaction),
                    Ok(other) => control = Some(other),
                    Err(_) => break,
                }
            }
            if !group.is_empty() {
                self.commit(group);
            }
            match control {
                Some(Command::Rotate(done)) => {
                    let _ = done.send(self.rotate());
                }
                Some(Command::Close(done)) => {
                    let synced = match self.failed() {
                        Some(error) => Err(error),
                        None => self
                            .file
                            .sync_data()
                            .map_err(|e| io_error(format!("cannot fsync {}", self.path.display()), e)),
                    };
                    let _ = done.send(synced);
                    return;
                }
                Some(Command::Append(_)) | None => {}
            }
        }
    }

    fn failed(&self) -> Option<StoreError> {
        self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone().map(StoreError::Io)
    }

    fn stop(&self, reason: String) {
        tracing::error!("{reason}");
        *self.failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reason);
    }

    fn commit(&mut self, group: Vec<PendingTransaction>) {
        if let Some(error) = self.failed() {
            for transaction in group {
                let _ = transaction.done.send(Err(error.clone()));
            }
            return;
        }
        let started = Instant::now();
        let first_lsn = self.next_lsn;
        let received = self.clock.stamp();
        match self.write_group(&group, first_lsn, received) {
            Ok(bytes) => {
                let batches: usize = group.iter().map(|t| t.batches.len()).sum();
                self.file_length += bytes;
                self.next_lsn += batches as u64;
                self.metrics.wal_sync_seconds.observe(started.elapsed().as_secs_f64());
                self.metrics.wal_syncs.inc();
                self.metrics.wal_bytes.inc_by(bytes);
                self.metrics.appends.inc_by(batches as u64);
                let mut committed = Vec::with_capacity(batches);
                let mut acknowledgements = Vec::with_capacity(group.len());
                // Numbered as `write_group` numbered them on disk: consecutively across the
                // group's transactions.
                let mut lsn = first_lsn;
                for transaction in group {
                    for (entry, batch) in transaction.entries.into_iter().zip(transaction.batches) {
                        committed.push(Committed { lsn, received, key: entry.key, batch });
                        lsn += 1;
                    }
                    acknowledgements.push(transaction.done);
                }
                (self.apply)(committed);
                self.clock.committed(received);
                for done in acknowledgements {
                    let _ = done.send(Ok(()));
                }
            }
            Err(failure) => {
                self.clock.abandoned();
                let (cause, undo) = match failure {
                    WriteFailure::Write(cause) => {
                        let undo = self.file.truncate(self.file_length);
                        (cause, undo.err().map(|e| format!("could not be truncated after a failed write ({e})")))
                    }
                    WriteFailure::Sync(cause) => {
                        // Best effort: a restart then finds less of what was never acknowledged.
                        let _ = self.file.truncate(self.file_length);
                        let reason = format!("could not be fsynced ({cause})");
                        (cause, Some(reason))
                    }
                };
                let error = io_error(format!("cannot write WAL file {}", self.path.display()), &cause);
                tracing::error!(file = %self.path.display(), "WAL write failed, {} transactions rejected: {cause}", group.len());
                if let Some(what) = undo {
                    self.stop(format!(
                        "WAL file {} {what}; the store refuses writes until it is restarted and recovers the file",
                        self.path.display()
                    ));
                }
                for transaction in group {
                    let _ = transaction.done.send(Err(error.clone()));
                }
            }
        }
    }

    fn write_group(
        &mut self,
        group: &[PendingTransaction],
        first_lsn: u64,
        received: i64,
    ) -> Result<u64, WriteFailure> {
        let mut out = BufWriter::with_capacity(1 << 20, &mut self.file);
        let mut bytes = 0;
        let mut lsn = first_lsn;
        for transaction in group {
            bytes += write_transaction(&mut out, lsn, received, &transaction.entries).map_err(WriteFailure::Write)?;
            lsn += transaction.entries.len() as u64;
        }
        out.flush().map_err(WriteFailure::Write)?;
        drop(out);
        self.file.sync_data().map_err(WriteFailure::Sync)?;
        Ok(bytes)
    }

    fn rotate(&mut self) -> Result<u64, StoreError> {
        if let Some(error) = self.failed() {
            return Err(error);
        }
        let seq = self.current_seq.load(Ordering::Acquire) + 1;
        self.file = (self.create)(&self.dir, seq)?;
        self.path = self.dir.join(file_name(seq));
        self.file_length = FILE_HEADER.len() as u64;
        self.current_seq.store(seq, Ordering::Release);
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU8;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(values: &[i64]) -> RecordBatch {
        let schema =
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true), Field::new("s", DataType::Utf8, true)]));
        let strings: Vec<String> = values.iter().map(|v| format!("row {v}")).collect();
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(values.to_vec())), Arc::new(StringArray::from(strings))],
        )
        .expect("valid batch")
    }

    fn key(table: &str) -> TableKey {
        TableKey { workspace: "ws".to_string(), table: table.to_string() }
    }

    fn entry(table: &str, values: &[i64]) -> Entry {
        Entry { key: key(table), ipc: encode_batch(&batch(values)).expect("encodes") }
    }

    /// A frame as version 1 wrote it: one batch, no transaction.
    fn write_v1_frame(out: &mut Vec<u8>, lsn: u64, values: &[i64]) -> u64 {
        let mut body = Vec::new();
        body.extend_from_slice(&lsn.to_le_bytes());
        body.extend_from_slice(&1i64.to_le_bytes());
        for name in ["ws", "T"] {
            body.extend_from_slice(&(name.len() as u32).to_le_bytes());
            body.extend_from_slice(name.as_bytes());
        }
        body.extend_from_slice(&encode_batch(&batch(values)).expect("encodes"));
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        8 + body.len() as u64
    }

    fn write_v1_file(dir: &Path, seq: u64, frames: &[(u64, &[i64])]) -> PathBuf {
        let path = dir.join(file_name(seq));
        let mut bytes = Vec::new();
        for (lsn, values) in frames {
            write_v1_frame(&mut bytes, *lsn, values);
        }
        std::fs::write(&path, bytes).expect("writes file");
        path
    }

    /// A version 2 file of transactions, each a first LSN and its entries.
    fn write_file(dir: &Path, seq: u64, transactions: &[(u64, Vec<Entry>)]) -> PathBuf {
        let path = dir.join(file_name(seq));
        let mut bytes = FILE_HEADER.to_vec();
        for (lsn, entries) in transactions {
            write_transaction(&mut bytes, *lsn, 1, entries).expect("writes");
        }
        std::fs::write(&path, bytes).expect("writes file");
        path
    }

    /// Every batch replayed: LSN, table and rows.
    fn replayed(dir: &Path) -> Result<Vec<(u64, String, usize)>, StoreError> {
        let mut records = Vec::new();
        replay(dir, |record| {
            records.push((record.lsn, record.key.table, record.batch.num_rows()));
            Ok(())
        })?;
        Ok(records)
    }

    /// Every batch replayed: LSN and table.
    fn replayed_tables(dir: &Path) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(replayed(dir)?.into_iter().map(|(lsn, table, _)| (lsn, table)).collect())
    }

    fn rows(items: &[(u64, &str, usize)]) -> Vec<(u64, String, usize)> {
        items.iter().map(|(lsn, table, rows)| (*lsn, table.to_string(), *rows)).collect()
    }

    #[test]
    fn transactions_round_trip_in_order_across_files_after_version_1_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_v1_file(dir.path(), 1, &[(1, &[1, 2]), (2, &[3])]);
        write_file(dir.path(), 2, &[(3, vec![entry("A", &[4]), entry("B", &[5, 6])]), (5, vec![entry("A", &[7])])]);
        assert_eq!(
            replayed(dir.path()).expect("replays"),
            rows(&[(1, "T", 2), (2, "T", 1), (3, "A", 1), (4, "B", 2), (5, "A", 1)])
        );
    }

    #[test]
    fn a_transaction_cut_short_at_the_end_of_the_last_file_is_dropped_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_file(
            dir.path(),
            7,
            &[(1, vec![entry("A", &[1])]), (2, vec![entry("A", &[2, 3]), entry("B", &[4]), entry("C", &[5])])],
        );
        let whole = std::fs::metadata(&path).expect("metadata").len();
        let first_end =
            FILE_HEADER.len() as u64 + write_transaction(&mut Vec::new(), 1, 1, &[entry("A", &[1])]).expect("measures");
        // Cuts inside the second transaction's header, its first entry, and its last.
        for cut in [first_end + 3, first_end + 60, whole - 1] {
            let bytes = std::fs::read(&path).expect("reads");
            std::fs::write(&path, &bytes[..cut as usize]).expect("cuts");
            assert_eq!(replayed(dir.path()).expect("recovers"), rows(&[(1, "A", 1)]), "cut at {cut}");
            assert_eq!(std::fs::metadata(&path).expect("metadata").len(), first_end);
            std::fs::write(&path, &bytes).expect("restores both transactions for the next cut");
        }
    }

    #[test]
    fn a_version_1_frame_cut_short_at_the_end_is_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_v1_file(dir.path(), 3, &[(1, &[1]), (2, &[2, 3])]);
        let first_frame = write_v1_frame(&mut Vec::new(), 1, &[1]);
        let bytes = std::fs::read(&path).expect("reads");
        std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("cuts");
        assert_eq!(replayed(dir.path()).expect("recovers"), rows(&[(1, "T", 1)]));
        assert_eq!(std::fs::metadata(&path).expect("metadata").len(), first_frame);
    }

    #[test]
    fn garbage_or_zeros_after_the_last_frame_are_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_file(dir.path(), 1, &[(1, vec![entry("T", &[1])])]);
        let clean = std::fs::read(&path).expect("reads");
        for tail in [vec![0xAB; 3], vec![0xFF; 40], vec![0; 64]] {
            let mut bytes = clean.clone();
            bytes.extend_from_slice(&tail);
            std::fs::write(&path, &bytes).expect("writes");
            assert_eq!(replayed(dir.path()).expect("recovers"), rows(&[(1, "T", 1)]));
            assert_eq!(std::fs::read(&path).expect("reads"), clean);
        }
    }

    #[test]
    fn a_file_whose_header_was_cut_short_while_it_was_created_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_file(dir.path(), 1, &[(1, vec![entry("T", &[1])])]);
        let torn = dir.path().join(file_name(2));
        std::fs::write(&torn, &FILE_HEADER[..5]).expect("writes");
        assert_eq!(replayed(dir.path()).expect("recovers"), rows(&[(1, "T", 1)]));
        assert_eq!(std::fs::metadata(&torn).expect("metadata").len(), 0);
    }

    #[test]
    fn a_bad_frame_in_the_middle_is_an_error_naming_file_and_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_file(
            dir.path(),
            1,
            &[(1, vec![entry("T", &[1])]), (2, vec![entry("T", &[2])]), (3, vec![entry("T", &[3])])],
        );
        let mut bytes = std::fs::read(&path).expect("reads");
        let second_frame = FILE_HEADER.len() + (bytes.len() - FILE_HEADER.len()) / 3;
        bytes[second_frame + 30] ^= 0xFF;
        std::fs::write(&path, &bytes).expect("writes");
        let error = replayed(dir.path()).expect_err("corruption is an error");
        let StoreError::Io(message) = error else { panic!("expected an Io error, got {error:?}") };
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(&format!("offset {second_frame}")), "{message}");
        assert!(message.contains("checksum"), "{message}");
    }

    #[test]
    fn a_torn_frame_in_an_older_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let older = write_file(dir.path(), 1, &[(1, vec![entry("T", &[1])]), (2, vec![entry("T", &[2])])]);
        write_file(dir.path(), 2, &[(3, vec![entry("T", &[3])])]);
        let bytes = std::fs::read(&older).expect("reads");
        std::fs::write(&older, &bytes[..bytes.len() - 5]).expect("cuts");
        let error = replayed(dir.path()).expect_err("a cut older file is an error");
        assert!(error.to_string().contains(&older.display().to_string()), "{error}");
    }

    const HEALTHY: u8 = 0;
    const DISK_FULL: u8 = 1;
    const SYNC_FAILS: u8 = 2;

    /// A real WAL file whose writes or fsyncs fail while `fault` says so. A full disk fails
    /// part-way: half of what is written reaches the file first.
    struct FaultyFile {
        file: File,
        fault: Arc<AtomicU8>,
    }

    impl Write for FaultyFile {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.fault.load(Ordering::SeqCst) == DISK_FULL {
                self.file.write_all(&bytes[..bytes.len() / 2])?;
                return Err(std::io::Error::new(ErrorKind::StorageFull, "No space left on device"));
            }
            self.file.write(bytes)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.file.flush()
        }
    }

    impl LogFile for FaultyFile {
        fn sync_data(&mut self) -> std::io::Result<()> {
            if self.fault.load(Ordering::SeqCst) == SYNC_FAILS {
                return Err(std::io::Error::other("Input/output error"));
            }
            self.file.sync_data()
        }

        fn truncate(&mut self, length: u64) -> std::io::Result<()> {
            LogFile::truncate(&mut self.file, length)
        }
    }

    /// The LSN and table of each batch the writer committed.
    type CommittedBatches = Arc<Mutex<Vec<(u64, String)>>>;

    /// A writer over files that fail on demand, and what it committed.
    fn faulty_wal(dir: &Path, fault: Arc<AtomicU8>) -> (Wal, CommittedBatches, StoreMetrics) {
        let committed = Arc::new(Mutex::new(Vec::new()));
        let seen = committed.clone();
        let create: CreateLogFile = Box::new(move |dir, seq| {
            let path = dir.join(file_name(seq));
            let mut file = OpenOptions::new().create_new(true).append(true).open(&path).expect("creates");
            file.write_all(&FILE_HEADER).expect("header");
            Ok(Box::new(FaultyFile { file, fault: fault.clone() }))
        });
        let metrics = StoreMetrics::new();
        let wal = Wal::start(
            dir,
            1,
            1,
            Arc::new(ReceivedClock::new(0)),
            metrics.clone(),
            create,
            move |group: Vec<Committed>| {
                seen.lock().expect("lock").extend(group.into_iter().map(|c| (c.lsn, c.key.table)));
            },
        )
        .expect("starts");
        (wal, committed, metrics)
    }

    async fn append(wal: &Wal, tables: &[&str]) -> Result<(), StoreError> {
        let batches: Vec<RecordBatch> = tables.iter().map(|_| batch(&[1])).collect();
        let entries = tables.iter().map(|table| entry(table, &[1])).collect();
        wal.append(batches, entries).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transactions_committed_together_have_in_memory_the_lsns_they_have_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (wal, committed, metrics) = faulty_wal(dir.path(), Arc::new(AtomicU8::new(HEALTHY)));
        let wal = Arc::new(wal);
        // Many at once, of one and of two tables, so that groups hold several transactions.
        let appends: Vec<_> = (0..64)
            .map(|n| {
                let wal = wal.clone();
                tokio::spawn(async move {
                    let tables: &[&str] = if n % 3 == 0 { &["A", "B"] } else { &["A"] };
                    append(&wal, tables).await
                })
            })
            .collect();
        for append in appends {
            append.await.expect("joins").expect("appends");
        }
        wal.close().await.expect("close");
        assert!(metrics.wal_syncs.get() < 64, "no group held two transactions: the test proves nothing");
        let on_disk = replayed_tables(dir.path()).expect("replays");
        let in_memory: Vec<(u64, String)> = committed.lock().expect("lock").clone();
        assert_eq!(in_memory, on_disk);
    }

    #[tokio::test]
    async fn a_write_that_fills_the_disk_is_cut_off_and_writes_resume_when_there_is_room() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fault = Arc::new(AtomicU8::new(HEALTHY));
        let (wal, committed, _) = faulty_wal(dir.path(), fault.clone());
        append(&wal, &["A"]).await.expect("first append");
        fault.store(DISK_FULL, Ordering::SeqCst);
        let error = append(&wal, &["A", "B"]).await.expect_err("the disk is full");
        assert!(error.to_string().contains("No space left"), "{error}");
        assert_eq!(wal.failure(), None, "a failed write that was cut off does not stop the log");
        fault.store(HEALTHY, Ordering::SeqCst);
        append(&wal, &["B", "C"]).await.expect("appends resume");
        wal.close().await.expect("close");

        let expected = vec![(1, "A".to_string()), (2, "B".to_string()), (3, "C".to_string())];
        assert_eq!(*committed.lock().expect("lock"), expected);
        let on_disk = replayed_tables(dir.path()).expect("no torn bytes are left");
        assert_eq!(on_disk, expected, "the half-written transaction left nothing behind");
    }

    #[tokio::test]
    async fn after_a_failed_fsync_the_log_refuses_every_write_until_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fault = Arc::new(AtomicU8::new(HEALTHY));
        let (wal, committed, _) = faulty_wal(dir.path(), fault.clone());
        append(&wal, &["A"]).await.expect("first append");
        fault.store(SYNC_FAILS, Ordering::SeqCst);
        append(&wal, &["B"]).await.expect_err("the fsync fails");
        fault.store(HEALTHY, Ordering::SeqCst);
        let error = append(&wal, &["C"]).await.expect_err("the log has stopped");
        assert!(error.to_string().contains("refuses writes until it is restarted"), "{error}");
        assert!(wal.failure().is_some_and(|reason| reason.contains("could not be fsynced")));
        assert!(wal.rotate().await.is_err(), "no new file either");
        assert!(wal.close().await.is_err(), "closing reports the failure");
        assert_eq!(*committed.lock().expect("lock"), vec![(1, "A".to_string())], "only the first was acknowledged");
    }
}
