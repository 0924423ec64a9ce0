//! The write-ahead log: every appended batch is in an fsynced WAL file before it is
//! acknowledged, and is replayed from there after a crash until a flush has put it in Parquet.
//!
//! Files are `{seq:020}.log`, written in order; a flush rotates to a new file and deletes the
//! older ones once everything in them is in segments. A file is a sequence of frames:
//!
//! ```text
//! [u32 body length][u32 CRC-32 of body][body]
//! body = [u64 lsn][i64 received][u32 length][workspace][u32 length][table][Arrow IPC stream]
//! ```
//!
//! integers little-endian; `received` is the group commit's ingestion time (nanoseconds since
//! the epoch, see `ReceivedClock`), so a replayed row keeps the ingestion time it was
//! acknowledged with. One writer thread owns the current file and commits appends in
//! groups: it takes every append waiting in its channel, writes them, and fsyncs once, so
//! concurrent appends share an fsync.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use tokio::sync::oneshot;

use crate::clock::ReceivedClock;
use crate::error::{StoreError, io_error};
use crate::metrics::StoreMetrics;
use crate::table::TableKey;

const FRAME_HEADER_BYTES: usize = 8;
/// A body holds at least its LSN, its ingestion time and two name lengths.
const MIN_BODY_BYTES: usize = 24;
/// Appends committed under one fsync at most; the rest wait for the next group, so one group
/// cannot grow without bound while callers keep arriving.
const MAX_GROUP_APPENDS: usize = 4096;

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

/// A batch as Arrow IPC stream bytes, the form it takes in a frame.
pub(crate) fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>, StoreError> {
    let encode = || {
        let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema())?;
        writer.write(batch)?;
        writer.finish()?;
        writer.into_inner()
    };
    encode().map_err(|e| StoreError::Schema(format!("cannot encode the batch for the WAL: {e}")))
}

/// The fixed part of a frame's body, before the IPC bytes.
fn body_prefix(lsn: u64, received: i64, key: &TableKey) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(MIN_BODY_BYTES + key.workspace.len() + key.table.len());
    prefix.extend_from_slice(&lsn.to_le_bytes());
    prefix.extend_from_slice(&received.to_le_bytes());
    for name in [&key.workspace, &key.table] {
        prefix.extend_from_slice(&(name.len() as u32).to_le_bytes());
        prefix.extend_from_slice(name.as_bytes());
    }
    prefix
}

/// The largest IPC payload a frame can hold next to these names: frame lengths are u32.
pub(crate) fn max_payload_bytes(key: &TableKey) -> usize {
    u32::MAX as usize - MIN_BODY_BYTES - key.workspace.len() - key.table.len()
}

fn write_frame(out: &mut impl Write, lsn: u64, received: i64, key: &TableKey, ipc: &[u8]) -> std::io::Result<u64> {
    let prefix = body_prefix(lsn, received, key);
    let body_length = prefix.len() + ipc.len();
    let mut checksum = crc32fast::Hasher::new();
    checksum.update(&prefix);
    checksum.update(ipc);
    // `append` rejects payloads above `max_payload_bytes`, so the length fits.
    out.write_all(&(body_length as u32).to_le_bytes())?;
    out.write_all(&checksum.finalize().to_le_bytes())?;
    out.write_all(&prefix)?;
    out.write_all(ipc)?;
    Ok((FRAME_HEADER_BYTES + body_length) as u64)
}

/// One frame read back.
pub(crate) struct WalRecord {
    pub lsn: u64,
    /// Ingestion time of the append, nanoseconds since the epoch.
    pub received: i64,
    pub key: TableKey,
    pub batch: RecordBatch,
    /// The batch's size in the frame. A decoded batch's columns share the frame's buffer,
    /// which `get_array_memory_size` would count once per column.
    pub encoded_bytes: usize,
}

/// Why the bytes at an offset are not a valid frame.
enum BadFrame {
    /// Fewer bytes than a header: the file ends inside one.
    ShortHeader,
    /// The header claims more bytes than the file has.
    PastEnd {
        length: usize,
    },
    Checksum {
        frame_end: usize,
    },
    /// The checksum matched but the body does not decode.
    Body {
        problem: String,
    },
}

impl BadFrame {
    fn describe(&self) -> String {
        match self {
            BadFrame::ShortHeader => "the file ends inside a frame header".to_string(),
            BadFrame::PastEnd { length } => format!("the frame claims {length} bytes, past the end of the file"),
            BadFrame::Checksum { .. } => "the frame's checksum does not match its contents".to_string(),
            BadFrame::Body { problem, .. } => format!("the frame does not decode: {problem}"),
        }
    }

    /// Whether this is what a crash in the middle of writing the file's last group leaves: a
    /// frame cut short, or one that reaches the end of the file but whose bytes did not all
    /// reach the disk, or zeros that a file system extended the file with.
    fn is_torn_tail(&self, rest: &[u8]) -> bool {
        match self {
            BadFrame::ShortHeader | BadFrame::PastEnd { .. } => true,
            BadFrame::Checksum { frame_end } => *frame_end == rest.len() || rest.iter().all(|b| *b == 0),
            BadFrame::Body { .. } => rest.iter().all(|b| *b == 0),
        }
    }
}

fn parse_frame(bytes: &[u8]) -> Result<(WalRecord, usize), BadFrame> {
    let (Some(length), Some(checksum)) = (read_u32(bytes, 0), read_u32(bytes, 4)) else {
        return Err(BadFrame::ShortHeader);
    };
    let length = length as usize;
    let frame_end = FRAME_HEADER_BYTES + length;
    let Some(body) = bytes.get(FRAME_HEADER_BYTES..frame_end) else {
        return Err(BadFrame::PastEnd { length });
    };
    if crc32fast::hash(body) != checksum {
        return Err(BadFrame::Checksum { frame_end });
    }
    let record = parse_body(body).map_err(|problem| BadFrame::Body { problem })?;
    Ok((record, frame_end))
}

fn parse_body(body: &[u8]) -> Result<WalRecord, String> {
    if body.len() < MIN_BODY_BYTES {
        return Err(format!("a body of {} bytes is shorter than the smallest possible", body.len()));
    }
    let mut lsn_bytes = [0u8; 8];
    lsn_bytes.copy_from_slice(&body[..8]);
    let lsn = u64::from_le_bytes(lsn_bytes);
    let mut received_bytes = [0u8; 8];
    received_bytes.copy_from_slice(&body[8..16]);
    let received = i64::from_le_bytes(received_bytes);
    let mut position = 16;
    let mut names = Vec::with_capacity(2);
    for what in ["workspace", "table"] {
        let length = read_u32(body, position).ok_or_else(|| format!("the {what} name's length is cut off"))? as usize;
        position += 4;
        let name = body.get(position..position + length).ok_or_else(|| format!("the {what} name is cut off"))?;
        names.push(String::from_utf8(name.to_vec()).map_err(|_| format!("the {what} name is not UTF-8"))?);
        position += length;
    }
    let table = names.pop().unwrap_or_default();
    let workspace = names.pop().unwrap_or_default();
    let reader = StreamReader::try_new(Cursor::new(&body[position..]), None).map_err(|e| e.to_string())?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let batch = concat_batches(&schema, &batches).map_err(|e| e.to_string())?;
    Ok(WalRecord { lsn, received, key: TableKey { workspace, table }, batch, encoded_bytes: body.len() - position })
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([slice[0], slice[1], slice[2], slice[3]]))
}

/// Reads every frame of every WAL file in `dir` in order and passes it to `apply`. A torn
/// frame at the end of the last file (a crash while writing it: never acknowledged) is
/// truncated away; a bad frame anywhere else is corruption and an error naming the file and
/// offset. Returns the sequence number of the last file, if any.
pub(crate) fn replay(
    dir: &Path,
    mut apply: impl FnMut(WalRecord) -> Result<(), StoreError>,
) -> Result<Option<u64>, StoreError> {
    let files = list_files(dir)?;
    let last_seq = files.last().map(|(seq, _)| *seq);
    for (seq, path) in &files {
        let is_last = Some(*seq) == last_seq;
        let bytes = std::fs::read(path).map_err(|e| io_error(format!("cannot read WAL file {}", path.display()), e))?;
        let mut offset = 0;
        while offset < bytes.len() {
            let rest = &bytes[offset..];
            match parse_frame(rest) {
                Ok((record, frame_length)) => {
                    apply(record)?;
                    offset += frame_length;
                }
                Err(bad) if is_last && bad.is_torn_tail(rest) => {
                    tracing::warn!(
                        file = %path.display(),
                        offset,
                        discarded_bytes = rest.len(),
                        "truncating a torn write at the end of the WAL: {}",
                        bad.describe()
                    );
                    truncate(path, offset as u64)?;
                    break;
                }
                Err(bad) => {
                    return Err(StoreError::Io(format!(
                        "WAL file {} is corrupt at offset {offset}: {}; only the end of the last file can be a torn \
                         write, so this is damage to acknowledged data (move the file aside to start without it)",
                        path.display(),
                        bad.describe()
                    )));
                }
            }
        }
    }
    Ok(last_seq)
}

fn truncate(path: &Path, length: u64) -> Result<(), StoreError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| {
            file.set_len(length)?;
            file.sync_all()
        })
        .map_err(|e| io_error(format!("cannot truncate the torn end of WAL file {}", path.display()), e))
}

/// An append the writer has made durable, in LSN order, for the memtables.
pub(crate) struct Committed {
    pub lsn: u64,
    pub received: i64,
    pub key: TableKey,
    pub batch: RecordBatch,
}

struct PendingAppend {
    key: TableKey,
    batch: RecordBatch,
    ipc: Vec<u8>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

enum Command {
    Append(PendingAppend),
    /// Start a new file; answers its sequence number.
    Rotate(oneshot::Sender<Result<u64, StoreError>>),
    /// Finish what is queued before this, fsync and stop.
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// The store's side of the writer thread.
pub(crate) struct Wal {
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    current_seq: Arc<AtomicU64>,
}

impl Wal {
    /// Creates WAL file `seq` in `dir` and starts the writer thread, which numbers appends from
    /// `next_lsn` and hands each committed group to `apply` before acknowledging it.
    pub fn start(
        dir: &Path,
        seq: u64,
        next_lsn: u64,
        clock: Arc<ReceivedClock>,
        metrics: StoreMetrics,
        apply: impl FnMut(Vec<Committed>) + Send + 'static,
    ) -> Result<Wal, StoreError> {
        let (path, file) = create_file(dir, seq)?;
        let current_seq = Arc::new(AtomicU64::new(seq));
        let writer = Writer {
            dir: dir.to_path_buf(),
            path,
            file,
            file_length: 0,
            next_lsn,
            clock,
            broken: None,
            current_seq: current_seq.clone(),
            metrics,
            apply,
        };
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("vigil-wal".to_string())
            .spawn(move || writer.run(receiver))
            .map_err(|e| io_error("cannot start the WAL writer thread", e))?;
        Ok(Wal { commands: Mutex::new(Some(sender)), thread: Mutex::new(Some(thread)), current_seq })
    }

    /// Writes the batch to the WAL and returns once it is fsynced and in its memtable.
    pub async fn append(&self, key: TableKey, batch: RecordBatch, ipc: Vec<u8>) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Append(PendingAppend { key, batch, ipc, done }))?;
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

fn create_file(dir: &Path, seq: u64) -> Result<(PathBuf, File), StoreError> {
    let path = dir.join(file_name(seq));
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_error(format!("cannot create WAL file {}", path.display()), e))?;
    sync_dir(dir)?;
    Ok((path, file))
}

struct Writer<F> {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    file_length: u64,
    next_lsn: u64,
    clock: Arc<ReceivedClock>,
    /// Set when a failed write could not be undone: the file's end is unknown, so nothing more
    /// may be appended to it until a restart recovers it.
    broken: Option<String>,
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
                Command::Append(append) => group.push(append),
                other => control = Some(other),
            }
            while control.is_none() && group.len() < MAX_GROUP_APPENDS {
                match commands.try_recv() {
                    Ok(Command::Append(append)) => group.push(append),
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
                    let synced =
                        self.file.sync_all().map_err(|e| io_error(format!("cannot fsync {}", self.path.display()), e));
                    let _ = done.send(synced);
                    return;
                }
                Some(Command::Append(_)) | None => {}
            }
        }
    }

    fn commit(&mut self, group: Vec<PendingAppend>) {
        if let Some(reason) = &self.broken {
            let error = StoreError::Io(reason.clone());
            for append in group {
                let _ = append.done.send(Err(error.clone()));
            }
            return;
        }
        let started = Instant::now();
        let first_lsn = self.next_lsn;
        let received = self.clock.stamp();
        let written = self.write_group(&group, first_lsn, received);
        match written {
            Ok(bytes) => {
                self.file_length += bytes;
                self.next_lsn += group.len() as u64;
                self.metrics.wal_sync_seconds.observe(started.elapsed().as_secs_f64());
                self.metrics.wal_syncs.inc();
                self.metrics.wal_bytes.inc_by(bytes);
                self.metrics.appends.inc_by(group.len() as u64);
                let mut committed = Vec::with_capacity(group.len());
                let mut acknowledgements = Vec::with_capacity(group.len());
                for (lsn, append) in (first_lsn..).zip(group) {
                    committed.push(Committed { lsn, received, key: append.key, batch: append.batch });
                    acknowledgements.push(append.done);
                }
                (self.apply)(committed);
                self.clock.committed(received);
                for done in acknowledgements {
                    let _ = done.send(Ok(()));
                }
            }
            Err(cause) => {
                self.clock.abandoned();
                let error = io_error(format!("cannot write WAL file {}", self.path.display()), &cause);
                tracing::error!(file = %self.path.display(), "WAL write failed, {} appends rejected: {cause}", group.len());
                if let Err(undo) = self.file.set_len(self.file_length).and_then(|()| self.file.sync_all()) {
                    let reason = format!(
                        "WAL file {} could not be truncated after a failed write ({undo}); appends are refused until \
                         a restart recovers it",
                        self.path.display()
                    );
                    tracing::error!("{reason}");
                    self.broken = Some(reason);
                }
                for append in group {
                    let _ = append.done.send(Err(error.clone()));
                }
            }
        }
    }

    fn write_group(&mut self, group: &[PendingAppend], first_lsn: u64, received: i64) -> std::io::Result<u64> {
        let mut out = BufWriter::with_capacity(1 << 20, &self.file);
        let mut bytes = 0;
        for (lsn, append) in (first_lsn..).zip(group) {
            bytes += write_frame(&mut out, lsn, received, &append.key, &append.ipc)?;
        }
        out.flush()?;
        drop(out);
        self.file.sync_data()?;
        Ok(bytes)
    }

    fn rotate(&mut self) -> Result<u64, StoreError> {
        if let Some(reason) = &self.broken {
            return Err(StoreError::Io(reason.clone()));
        }
        let seq = self.current_seq.load(Ordering::Acquire) + 1;
        let (path, file) = create_file(&self.dir, seq)?;
        self.path = path;
        self.file = file;
        self.file_length = 0;
        self.current_seq.store(seq, Ordering::Release);
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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

    fn key() -> TableKey {
        TableKey { workspace: "ws".to_string(), table: "T".to_string() }
    }

    fn write_file(dir: &Path, seq: u64, frames: &[(u64, RecordBatch)]) -> PathBuf {
        let path = dir.join(file_name(seq));
        let mut bytes = Vec::new();
        for (lsn, batch) in frames {
            write_frame(&mut bytes, *lsn, 1, &key(), &encode_batch(batch).expect("encodes")).expect("writes");
        }
        std::fs::write(&path, bytes).expect("writes file");
        path
    }

    fn replayed(dir: &Path) -> Result<Vec<(u64, usize)>, StoreError> {
        let mut records = Vec::new();
        replay(dir, |record| {
            assert_eq!(record.key, key());
            records.push((record.lsn, record.batch.num_rows()));
            Ok(())
        })?;
        Ok(records)
    }

    #[test]
    fn frames_round_trip_in_order_across_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_file(dir.path(), 1, &[(1, batch(&[1, 2])), (2, batch(&[3]))]);
        write_file(dir.path(), 2, &[(3, batch(&[4, 5, 6]))]);
        assert_eq!(replayed(dir.path()).expect("replays"), vec![(1, 2), (2, 1), (3, 3)]);
    }

    #[test]
    fn a_frame_cut_short_at_the_end_of_the_last_file_is_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_file(dir.path(), 7, &[(1, batch(&[1])), (2, batch(&[2, 3]))]);
        let whole = std::fs::metadata(&path).expect("metadata").len();
        let first_frame = {
            let mut bytes = Vec::new();
            write_frame(&mut bytes, 1, 1, &key(), &encode_batch(&batch(&[1])).expect("encodes")).expect("writes")
        };
        for cut in [whole - 1, first_frame + 3, first_frame + 20] {
            let bytes = std::fs::read(&path).expect("reads");
            std::fs::write(&path, &bytes[..cut as usize]).expect("cuts");
            assert_eq!(replayed(dir.path()).expect("recovers"), vec![(1, 1)]);
            assert_eq!(std::fs::metadata(&path).expect("metadata").len(), first_frame);
            std::fs::write(&path, &bytes).expect("restores both frames for the next cut");
        }
    }

    #[test]
    fn garbage_or_zeros_after_the_last_frame_are_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_file(dir.path(), 1, &[(1, batch(&[1]))]);
        let clean = std::fs::read(&path).expect("reads");
        for tail in [vec![0xAB; 3], vec![0xFF; 40], vec![0; 64]] {
            let mut bytes = clean.clone();
            bytes.extend_from_slice(&tail);
            std::fs::write(&path, &bytes).expect("writes");
            assert_eq!(replayed(dir.path()).expect("recovers"), vec![(1, 1)]);
            assert_eq!(std::fs::read(&path).expect("reads"), clean);
        }
    }

    #[test]
    fn a_bad_frame_in_the_middle_is_an_error_naming_file_and_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_file(dir.path(), 1, &[(1, batch(&[1])), (2, batch(&[2])), (3, batch(&[3]))]);
        let mut bytes = std::fs::read(&path).expect("reads");
        let second_frame = bytes.len() / 3;
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
        let older = write_file(dir.path(), 1, &[(1, batch(&[1])), (2, batch(&[2]))]);
        write_file(dir.path(), 2, &[(3, batch(&[3]))]);
        let bytes = std::fs::read(&older).expect("reads");
        std::fs::write(&older, &bytes[..bytes.len() - 5]).expect("cuts");
        let error = replayed(dir.path()).expect_err("a cut older file is an error");
        assert!(error.to_string().contains(&older.display().to_string()), "{error}");
    }
}
